import { describe, expect, it } from "vitest";

import type { Variable } from "./variables";
import { applyVariables, chosenValues, optionsOf, substitutePointer, withVariable } from "./variables";

const device: Variable = { name: "device", label: "Device", kind: "path", values: [], path: "/i1/devices", default: null };
const unit: Variable = { name: "unit", label: null, kind: "list", values: ["C", "F"], path: null, default: "F" };
const note: Variable = { name: "note", label: null, kind: "text", values: [], path: null, default: null };
const data = { i1: { devices: { a: { t: 1 }, "b/c": { t: 2 } }, list: ["x", 3, { no: 1 }] } };

describe("variables", () => {
  it("substitutes a value as one pointer token", () => {
    expect(substitutePointer("/i1/devices/${device}/t", { device: "b/c" })).toBe("/i1/devices/b~1c/t");
    expect(substitutePointer("/i1/${unknown}", {})).toBe("/i1/${unknown}");
  });

  it("applies values to a widget's source and config strings, at any depth", () => {
    const widget = { id: "w", source: "/i1/devices/${device}/t", config: { title: "T (${unit})", n: 3, list: ["${unit}"] } };
    expect(applyVariables(widget, { device: "a", unit: "C" })).toEqual({
      id: "w",
      source: "/i1/devices/a/t",
      config: { title: "T (C)", n: 3, list: ["C"] },
    });
    const plain = { source: "/i1/x", config: {} };
    expect(applyVariables(plain, { device: "a" })).toBe(plain);
  });

  it("offers a list's values, a path's keys or items, nothing for text", () => {
    expect(optionsOf(unit, data)).toEqual(["C", "F"]);
    expect(optionsOf(device, data)).toEqual(["a", "b/c"]);
    expect(optionsOf({ ...device, path: "/i1/list" }, data)).toEqual(["x", "3"]);
    expect(optionsOf({ ...device, path: "/i2/none" }, data)).toEqual([]);
    expect(optionsOf(note, data)).toEqual([]);
  });

  it("takes the URL's choice, else the default, else the first option", () => {
    expect(chosenValues([device, unit, note], { "var-device": "b/c" }, data)).toEqual({ device: "b/c", unit: "F", note: "" });
    expect(chosenValues([device], {}, data)).toEqual({ device: "a" });
  });

  it("puts a variable into a source", () => {
    expect(withVariable("/i1/devices/a/t", device)).toBe("/i1/devices/${device}/t");
    expect(withVariable("/i1/devices/a", device)).toBe("/i1/devices/${device}");
    expect(withVariable("/i1/x", unit)).toBe("/i1/x/${unit}");
  });
});
