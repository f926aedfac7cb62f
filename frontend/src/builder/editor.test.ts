import { describe, expect, it } from "vitest";

import { draftOf, sameValue } from "./editor";

describe("sameValue", () => {
  it("compares JSON values deeply, whatever the key order", () => {
    expect(sameValue({ a: 1, b: [1, { c: "x" }] }, { b: [1, { c: "x" }], a: 1 })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 2 })).toBe(false);
    expect(sameValue([1, 2], [2, 1])).toBe(false);
    expect(sameValue({ a: [] }, { a: {} })).toBe(false);
    expect(sameValue({ a: null }, { a: undefined })).toBe(false);
    expect(sameValue({ a: 1, b: undefined }, { a: 1 })).toBe(true);
  });
});

describe("draftOf", () => {
  it("takes what the widget panel edits, not the place", () => {
    const widget = {
      id: "w1",
      module_id: "builtin-value",
      version: "1.0.0",
      x: 3,
      y: 4,
      w: 5,
      h: 6,
      config: { label: "Flow" },
      source: "/i1/value",
      background: null,
      hide_until_data: true,
      title: "Pump",
      frame: null,
    };
    const moved = { ...widget, x: 9 };
    expect(sameValue(draftOf(widget), draftOf(moved))).toBe(true);
    expect(draftOf(widget)).toEqual({
      title: "Pump",
      background: null,
      hide_until_data: true,
      source: "/i1/value",
      config: { label: "Flow" },
    });
  });
});
