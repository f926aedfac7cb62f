import { describe, expect, it } from "vitest";

import { compareSemver, highest, nextVersion, parseSemver, versionProblem } from "./semver";

const v = (text: string) => parseSemver(text)!;

describe("semver", () => {
  it("parses versions and refuses other text", () => {
    expect(parseSemver("1.2.3")).toEqual({ major: 1, minor: 2, patch: 3, pre: [] });
    expect(parseSemver("1.0.0-rc.1+build")?.pre).toEqual(["rc", "1"]);
    for (const bad of ["1.2", "01.2.3", "v1.2.3", "1.2.3-", ""]) expect(parseSemver(bad)).toBeNull();
  });

  it("orders as semver.org says", () => {
    const order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"];
    for (let i = 1; i < order.length; i++) expect(compareSemver(v(order[i - 1]!), v(order[i]!))).toBeLessThan(0);
    expect(compareSemver(v("1.0.0+a"), v("1.0.0+b"))).toBe(0);
    expect(highest(["1.9.0", "1.10.0", "junk", "1.2.0"])).toBe("1.10.0");
  });

  it("says why a version cannot be published and suggests the next", () => {
    expect(versionProblem("1.1.0", "1.0.0")).toBeNull();
    expect(versionProblem("1.0.0", "1.0.0")).toMatch(/greater than 1.0.0/);
    expect(versionProblem("0.9.0", "1.0.0")).toMatch(/greater/);
    expect(versionProblem("one", null)).toMatch(/semantic version/);
    expect(nextVersion(null)).toBe("1.0.0");
    expect(nextVersion("1.0.0")).toBe("1.1.0");
    expect(nextVersion("2.0.0-rc.1")).toBe("2.0.0");
  });
});
