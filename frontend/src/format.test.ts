import { describe, expect, it } from "vitest";

import { plural, timeAgo } from "./format";

describe("timeAgo", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");

  it("says how long ago, in the largest whole unit", () => {
    expect(timeAgo("2026-11-28T11:59:30Z", now)).toBe("just now");
    expect(timeAgo("2026-11-28T11:55:00Z", now)).toMatch(/5 minutes ago/);
    expect(timeAgo("2026-11-28T09:00:00Z", now)).toMatch(/3 hours ago/);
    expect(timeAgo("2026-11-27T12:00:00Z", now)).toMatch(/yesterday|1 day ago/);
    expect(timeAgo("2026-12-01T12:00:00Z", now)).toMatch(/in 3 days/);
  });

  it("says never for no date", () => {
    expect(timeAgo(null, now)).toBe("never");
  });
});

describe("plural", () => {
  it("agrees with its count", () => {
    expect(plural(1, "dashboard")).toBe("1 dashboard");
    expect(plural(0, "dashboard")).toBe("0 dashboards");
    expect(plural(2, "entry", "entries")).toBe("2 entries");
  });
});
