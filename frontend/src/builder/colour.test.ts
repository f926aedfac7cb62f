import { describe, expect, it } from "vitest";

import { joinColour, splitColour } from "./colour";

describe("colours with opacity", () => {
  it("splits #rrggbb and #rrggbbaa", () => {
    expect(splitColour("#102030")).toEqual({ rgb: "#102030", opacity: 100 });
    expect(splitColour("#10203080")).toEqual({ rgb: "#102030", opacity: 50 });
    expect(splitColour("#ABCDEF00")).toEqual({ rgb: "#abcdef", opacity: 0 });
  });

  it("falls back for nothing or something else", () => {
    expect(splitColour(null)).toEqual({ rgb: "#ffffff", opacity: 100 });
    expect(splitColour("red", "#000000")).toEqual({ rgb: "#000000", opacity: 100 });
  });

  it("joins to what the server accepts, without alpha when opaque", () => {
    expect(joinColour({ rgb: "#102030", opacity: 100 })).toBe("#102030");
    expect(joinColour({ rgb: "#102030", opacity: 50 })).toBe("#10203080");
    expect(joinColour({ rgb: "#102030", opacity: -5 })).toBe("#10203000");
    expect(joinColour({ rgb: "#AABBCC", opacity: 150 })).toBe("#aabbcc");
  });

  it("round-trips", () => {
    for (const value of ["#00000000", "#ffffff", "#12345633", "#abcdefcc"]) {
      expect(joinColour(splitColour(value))).toBe(value);
    }
  });
});
