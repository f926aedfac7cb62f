import { describe, expect, it } from "vitest";

import { decodeText, languageFor } from "./languages";
import { buildTree, folderOf, movedPath } from "./tree";

const file = (path: string) => ({ path, size: 1, sha256: "x", is_folder: false });
const folder = (path: string) => ({ path, size: 0, sha256: null, is_folder: true });

describe("the file tree", () => {
  it("nests paths, makes the folders files imply, sorts folders first", () => {
    const tree = buildTree([file("b.txt"), file("lib/x/y.js"), folder("empty"), file("a.txt"), file("lib/a.js")]);
    expect(tree.map((n) => [n.name, n.folder])).toEqual([
      ["empty", true],
      ["lib", true],
      ["a.txt", false],
      ["b.txt", false],
    ]);
    const lib = tree[1]!;
    expect(lib.children.map((n) => n.path)).toEqual(["lib/x", "lib/a.js"]);
    expect(lib.children[0]!.children.map((n) => n.path)).toEqual(["lib/x/y.js"]);
  });

  it("follows renames of files and folders, and only those", () => {
    expect(movedPath("lib/a.js", "lib", "src")).toBe("src/a.js");
    expect(movedPath("lib", "lib", "src")).toBe("src");
    expect(movedPath("library/a.js", "lib", "src")).toBeNull();
    expect(folderOf("a/b/c.txt")).toBe("a/b");
    expect(folderOf("c.txt")).toBe("");
  });
});

describe("file contents", () => {
  const bytes = (...values: number[]) => new Uint8Array(values).buffer;

  it("opens UTF-8 text and refuses binary data", () => {
    expect(decodeText("a.txt", new TextEncoder().encode("héllo").buffer as ArrayBuffer)).toBe("héllo");
    expect(decodeText("a.txt", bytes(0xff, 0xfe, 0x00))).toBeNull(); // not UTF-8
    expect(decodeText("a.bin.txt", bytes(0x61, 0x00, 0x62))).toBeNull(); // a NUL byte
    expect(decodeText("logo.png", bytes(0x61))).toBeNull(); // a binary format by name
  });

  it("highlights by extension, plain text otherwise", () => {
    expect(languageFor("x.py")).not.toEqual([]);
    expect(languageFor("LICENSE")).toEqual([]);
  });
});
