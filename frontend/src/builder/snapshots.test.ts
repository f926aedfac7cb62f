import { describe, expect, it } from "vitest";

import { HOUR_MS, lastHour, splitSource } from "./snapshots";

describe("splitSource", () => {
  it("splits a widget source into its instance and pointer", () => {
    expect(splitSource("/i1/temperature")).toEqual({ instance: "i1", pointer: "/temperature" });
    expect(splitSource("/i1/air/humidity")).toEqual({ instance: "i1", pointer: "/air/humidity" });
    expect(splitSource("/i1")).toEqual({ instance: "i1", pointer: "" });
    expect(splitSource("/a~1b/x")).toEqual({ instance: "a/b", pointer: "/x" });
  });
  it("has nothing for no source", () => {
    expect(splitSource(null)).toBeNull();
    expect(splitSource("")).toBeNull();
    expect(splitSource("i1")).toBeNull();
    expect(splitSource("/")).toBeNull();
  });
});

describe("lastHour", () => {
  it("ends now and starts an hour before", () => {
    expect(lastHour(10 * HOUR_MS)).toEqual({ from: 9 * HOUR_MS, to: 10 * HOUR_MS });
  });
});
