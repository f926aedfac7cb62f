import { describe, expect, it } from "vitest";

import {
  PointerSyntaxError,
  escapeToken,
  formatPointer,
  parsePointer,
  pick,
  resolvePointer,
} from "./pointer";

// The example document of RFC 6901, section 5.
const rfc = {
  foo: ["bar", "baz"],
  "": 0,
  "a/b": 1,
  "c%d": 2,
  "e^f": 3,
  "g|h": 4,
  "i\\j": 5,
  'k"l': 6,
  " ": 7,
  "m~n": 8,
};

describe("resolvePointer", () => {
  it("resolves every example of RFC 6901", () => {
    const cases: [string, unknown][] = [
      ["", rfc],
      ["/foo", ["bar", "baz"]],
      ["/foo/0", "bar"],
      ["/", 0],
      ["/a~1b", 1],
      ["/c%d", 2],
      ["/e^f", 3],
      ["/g|h", 4],
      ["/i\\j", 5],
      ['/k"l', 6],
      ["/ ", 7],
      ["/m~0n", 8],
    ];
    for (const [pointer, expected] of cases) {
      expect(resolvePointer(rfc, pointer)).toEqual({ found: true, value: expected });
    }
  });

  it("tells a missing value from a null one", () => {
    const data = { i1: { value: null, list: [10, 20] } };
    expect(resolvePointer(data, "/i1/value")).toEqual({ found: true, value: null });
    expect(resolvePointer(data, "/i1/other")).toEqual({ found: false });
    expect(resolvePointer(data, "/i2/value")).toEqual({ found: false });
    expect(resolvePointer(data, "/i1/value/deeper")).toEqual({ found: false });
    expect(resolvePointer(data, "/i1/list/1")).toEqual({ found: true, value: 20 });
  });

  it("does not confuse _1 with _10 as dot paths did", () => {
    const data = { _1: "one", _10: "ten" };
    expect(pick(data, "/_1")).toBe("one");
    expect(pick(data, "/_10")).toBe("ten");
  });

  it("accepts only canonical array indexes", () => {
    const list = ["a", "b"];
    for (const token of ["-", "01", "1.0", "2", "-1", " 1", "length"]) {
      expect(resolvePointer(list, `/${token}`)).toEqual({ found: false });
    }
  });

  it("never walks the prototype chain", () => {
    expect(resolvePointer({}, "/__proto__")).toEqual({ found: false });
    expect(resolvePointer({}, "/constructor")).toEqual({ found: false });
    expect(resolvePointer({ a: {} }, "/a/toString")).toEqual({ found: false });
  });

  it("refuses malformed pointers", () => {
    for (const bad of ["foo", "/a~2", "/a~", "#/foo"]) {
      expect(() => resolvePointer(rfc, bad)).toThrow(PointerSyntaxError);
      expect(pick(rfc, bad)).toBeUndefined();
    }
  });
});

describe("escaping", () => {
  it("escapes ~ before / so that tokens round-trip", () => {
    expect(escapeToken("a/b")).toBe("a~1b");
    expect(escapeToken("~1")).toBe("~01");
    const tokens = ["i1", "a/b", "~1", "m~n", "", "x y"];
    expect(parsePointer(formatPointer(tokens))).toEqual(tokens);
    expect(parsePointer("/~01")).toEqual(["~1"]);
    expect(formatPointer([])).toBe("");
  });
});
