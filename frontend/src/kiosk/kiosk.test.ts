import { describe, expect, it } from "vitest";

import { DEFAULT_EVERY_MS, MIN_EVERY_MS, entriesOf, parseEvery } from "./kiosk";

describe("kiosk", () => {
  it("reads the interval", () => {
    expect(parseEvery(undefined)).toBe(DEFAULT_EVERY_MS);
    expect(parseEvery("30s")).toBe(30_000);
    expect(parseEvery("2m")).toBe(120_000);
    expect(parseEvery("45")).toBe(45_000);
    expect(parseEvery("10ms")).toBe(MIN_EVERY_MS);
    expect(parseEvery("soon")).toBeNull();
  });

  it("lists dashboards then public links", () => {
    expect(entriesOf({ dashboards: "a, b", shares: "t" })).toEqual([{ dashboard: "a" }, { dashboard: "b" }, { share: "t" }]);
    expect(entriesOf({})).toEqual([]);
  });
});
