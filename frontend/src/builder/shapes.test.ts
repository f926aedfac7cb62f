import { describe, expect, it } from "vitest";

import { fits, shapesOf } from "./shapes";

describe("the shape of a value", () => {
  it("names scalars", () => {
    expect(shapesOf(21.5)).toEqual(["number"]);
    expect(shapesOf("ok")).toEqual(["string"]);
    expect(shapesOf(false)).toEqual(["boolean"]);
    expect(shapesOf(Number.NaN)).toEqual([]);
    expect(shapesOf(null)).toEqual([]);
    expect(shapesOf(undefined)).toEqual([]);
  });

  it("knows a series of [t, v] pairs, and an object of them", () => {
    expect(shapesOf([[1795000000, 21.2], [1795000060, 21.3]])).toEqual(["series"]);
    expect(shapesOf([["2026-12-01T10:00:00Z", 3], ["2026-12-01T10:01:00Z", null]])).toEqual(["series"]);
    expect(shapesOf({ indoor: [[1, 2]], outdoor: [[1, 3]] })).toEqual(["series", "object"]);
    expect(shapesOf([[1, 2, 3]])).toEqual([]);
    expect(shapesOf([])).toEqual([]);
  });

  it("knows tables and points", () => {
    expect(shapesOf([{ city: "Oslo" }, { city: "Rome" }])).toEqual(["table"]);
    expect(shapesOf({ columns: ["a"], rows: [[1]] })).toEqual(["table", "object"]);
    expect(shapesOf({ lat: 59.9, lon: 10.7 })).toEqual(["geo", "object"]);
    expect(shapesOf([{ lat: 1, lng: 2, label: "x" }])).toEqual(["table", "geo"]);
    expect(shapesOf({ markers: [{ lat: 1, lon: 2 }], track: [[1, 2]] })).toEqual(["geo", "object"]);
    expect(shapesOf({ count: 3 })).toEqual(["object"]);
  });

  it("says whether a widget fits", () => {
    expect(fits(["number", "string"], 3)).toBe(true);
    expect(fits(["series"], 3)).toBe(false);
    expect(fits(["geo"], { lat: 1, lon: 2 })).toBe(true);
    expect(fits(undefined, 3)).toBe(false);
    expect(fits([], 3)).toBe(false);
  });
});
