import { describe, expect, it } from "vitest";

import { defaultOf, errorsByName, isSecretMarker, parseSchema, valuesToSend, withDefaults } from "./config";

describe("config.json in the web app", () => {
  it("keeps the entries a form can show, types in lower case, labels defaulting to names", () => {
    const schema = parseSchema([
      { type: "Slider", name: "size", label: "Size", min: 1, max: 9 },
      { type: "text", name: "title" },
      { type: "colour", name: "bad", label: "Typo" },
      { name: "noType", label: "x" },
      "junk",
    ]);
    expect(schema.map((f) => [f.type, f.name, f.label])).toEqual([
      ["slider", "size", "Size"],
      ["text", "title", "title"],
    ]);
    expect(parseSchema({ not: "an array" })).toEqual([]);
  });

  it("reads a working copy's file in the server's normalised shape (help is description)", () => {
    const [field] = parseSchema([{ type: "text", name: "city", help: "Where you are." }]);
    expect(field).toEqual({ type: "text", name: "city", label: "city", default: null, required: false, description: "Where you are." });
  });

  it("starts from the defaults, falsy ones kept; a switch without one is false", () => {
    const schema = parseSchema([
      { type: "switch", name: "on", label: "On" },
      { type: "number", name: "zero", label: "Zero", default: 0 },
      { type: "text", name: "empty", label: "Empty", default: "" },
      { type: "date", name: "since", label: "Since" },
    ]);
    expect(schema.map(defaultOf)).toEqual([false, 0, "", null]);
    expect(withDefaults(schema, { zero: 5, unknown: 1 })).toEqual({ on: false, zero: 5, empty: "", since: null });
  });

  it("never sends stored secret markers back and maps the server's field names", () => {
    const marker = { secret: true, set: true };
    expect(isSecretMarker(marker)).toBe(true);
    expect(isSecretMarker({ secret: true })).toBe(false);
    expect(valuesToSend({ apiKey: marker, city: "Oslo" })).toEqual({ city: "Oslo" });
    expect(errorsByName([{ field: "config.city", reason: "is required" }, { field: "label", reason: "x" }])).toEqual({
      city: "is required",
      label: "x",
    });
  });
});
