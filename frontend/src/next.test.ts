import { describe, expect, it } from "vitest";

import { safeNext } from "./next";

describe("safeNext", () => {
  it("keeps paths of the app with their query", () => {
    expect(safeNext("/d/abc")).toBe("/d/abc");
    expect(safeNext("/modules/x?tab=files#readme")).toBe("/modules/x?tab=files#readme");
  });

  it("refuses anything that could leave the app", () => {
    for (const next of ["https://evil.example", "//evil.example", "/\\evil.example", "evil", "", "/\u0000x"]) {
      expect(safeNext(next)).toBe("/");
    }
    expect(safeNext(["/a", "/b"])).toBe("/");
    expect(safeNext(undefined, "/account")).toBe("/account");
  });
});
