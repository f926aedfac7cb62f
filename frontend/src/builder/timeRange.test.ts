import { describe, expect, it } from "vitest";

import {
  fromLocalInput,
  parseCustom,
  parseRangeQuery,
  rangeQuery,
  resolveRange,
  sourceSeries,
  toLocalInput,
  withRange,
} from "./timeRange";

const NOW = Date.UTC(2026, 11, 2, 18, 0, 0);

describe("the time range in the URL", () => {
  it("is live without a query, and with range=live", () => {
    expect(parseRangeQuery({})).toEqual({ range: { kind: "live" }, problem: null });
    expect(parseRangeQuery({ range: "live" })).toEqual({ range: { kind: "live" }, problem: null });
    expect(rangeQuery({ kind: "live" })).toEqual({});
  });

  it("reads and writes the presets", () => {
    for (const preset of ["15m", "1h", "24h", "7d"] as const) {
      const { range, problem } = parseRangeQuery(rangeQuery({ kind: "last", preset }));
      expect(range).toEqual({ kind: "last", preset });
      expect(problem).toBeNull();
    }
  });

  it("reads and writes a custom range, as ISO 8601 or milliseconds", () => {
    const range = { kind: "custom", from: NOW - 3_600_000, to: NOW } as const;
    expect(rangeQuery(range)).toEqual({ from: "2026-12-02T17:00:00.000Z", to: "2026-12-02T18:00:00.000Z" });
    expect(parseRangeQuery(rangeQuery(range)).range).toEqual(range);
    expect(parseRangeQuery({ from: String(NOW - 1000), to: String(NOW) }).range).toEqual({
      kind: "custom",
      from: NOW - 1000,
      to: NOW,
    });
  });

  it("falls back to live with words for a link it does not understand", () => {
    const unknown = parseRangeQuery({ range: "3y" });
    expect(unknown.range).toEqual({ kind: "live" });
    expect(unknown.problem).toContain("“3y” that does not exist");
    const half = parseRangeQuery({ from: "2026-12-02T17:00:00Z" });
    expect(half.range).toEqual({ kind: "live" });
    expect(half.problem).toContain("needs a start and an end");
    expect(parseRangeQuery({ from: "yesterday", to: "today" }).problem).toContain("needs a start and an end");
    const backwards = parseRangeQuery({ from: "2026-12-02T18:00:00Z", to: "2026-12-02T17:00:00Z" });
    expect(backwards.problem).toContain("starts after it ends");
  });

  it("keeps the other keys of the query and drops the old range", () => {
    const query = withRange({ tab: "x", from: "1", to: "2" }, { kind: "last", preset: "1h" });
    expect(query).toEqual({ tab: "x", range: "1h" });
    expect(withRange({ tab: "x", range: "1h" }, { kind: "live" })).toEqual({ tab: "x" });
  });
});

describe("what widgets are told", () => {
  it("is live, or a paused range counted back from now", () => {
    expect(resolveRange({ kind: "live" }, NOW)).toEqual({ live: true, from: null, to: null });
    expect(resolveRange({ kind: "last", preset: "15m" }, NOW)).toEqual({ live: false, from: NOW - 900_000, to: NOW });
    expect(resolveRange({ kind: "last", preset: "7d" }, NOW)).toEqual({
      live: false,
      from: NOW - 7 * 86_400_000,
      to: NOW,
    });
    expect(resolveRange({ kind: "custom", from: 1, to: 2 }, NOW)).toEqual({ live: false, from: 1, to: 2 });
  });
});

describe("the custom range's inputs", () => {
  it("round-trips a local time to the minute", () => {
    const ms = new Date(2026, 11, 2, 9, 5).getTime();
    expect(toLocalInput(ms)).toBe("2026-12-02T09:05");
    expect(fromLocalInput("2026-12-02T09:05")).toBe(ms);
    expect(fromLocalInput("2026-12-02T09:05:30")).toBe(ms + 30_000);
  });

  it("refuses what is not a date", () => {
    expect(fromLocalInput("2026-02-31T10:00")).toBeNull();
    expect(fromLocalInput("tomorrow")).toBeNull();
  });

  it("says what is wrong, in words", () => {
    const now = new Date(2026, 11, 2, 18, 0).getTime();
    expect(parseCustom("", "", now)).toEqual({
      errors: { from: "Enter when the range starts.", to: "Enter when the range ends." },
    });
    expect(parseCustom("2026-13-01T00:00", "2026-12-02T10:00", now)).toEqual({
      errors: { from: "This is not a date and time." },
    });
    expect(parseCustom("2026-12-02T10:00", "2026-12-02T09:00", now)).toEqual({
      errors: { to: "The end must be after the start." },
    });
    expect(parseCustom("2026-12-03T10:00", "2026-12-03T11:00", now)).toEqual({
      errors: { from: "The start must be in the past: nothing is recorded yet after now." },
    });
    expect(parseCustom("2026-12-02T09:00", "2026-12-02T10:00", now)).toEqual({
      range: {
        kind: "custom",
        from: new Date(2026, 11, 2, 9, 0).getTime(),
        to: new Date(2026, 11, 2, 10, 0).getTime(),
      },
    });
  });
});

describe("a widget's source as a series", () => {
  it("splits the instance from the pointer into its output, escapes kept", () => {
    expect(sourceSeries("/i1/temperature")).toEqual({ instance: "i1", pointer: "/temperature" });
    expect(sourceSeries("/i1")).toEqual({ instance: "i1", pointer: "" });
    expect(sourceSeries("/i1/a~1b/c~0d/0")).toEqual({ instance: "i1", pointer: "/a~1b/c~0d/0" });
    expect(sourceSeries("")).toBeNull();
    expect(sourceSeries(null)).toBeNull();
    expect(sourceSeries("no-slash")).toBeNull();
  });
});
