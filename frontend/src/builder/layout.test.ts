import { describe, expect, it } from "vitest";

import { placementsOf, readingOrder, rowsOf } from "./layout";

describe("the grid's layout", () => {
  it("reads widgets top to bottom, then left to right, whatever order they are listed in", () => {
    const columnByColumn = [0, 6, 12, 18].flatMap((x) => [0, 4, 8].map((y) => ({ id: `${x}/${y}`, x, y, w: 6, h: 4 })));
    const ids = readingOrder(columnByColumn).map((w) => w.id);
    expect(ids).toEqual(["0/0", "6/0", "12/0", "18/0", "0/4", "6/4", "12/4", "18/4", "0/8", "6/8", "12/8", "18/8"]);
    expect(columnByColumn[1].id).toBe("0/4"); // the list itself is left as it was
  });

  it("counts rows down to the lowest edge, gaps included", () => {
    expect(rowsOf([])).toBe(1);
    expect(rowsOf([{ x: 0, y: 3, w: 8, h: 2 }, { x: 16, y: 0, w: 8, h: 20 }, { x: 4, y: 40, w: 4, h: 1 }])).toBe(41);
  });

  it("takes gridstack's left-out coordinates as their defaults", () => {
    expect(placementsOf([{ id: "w1" }, { id: "w2", x: 3, y: 7, w: 5, h: 2 }, { x: 1 }])).toEqual([
      { id: "w1", x: 0, y: 0, w: 1, h: 1 },
      { id: "w2", x: 3, y: 7, w: 5, h: 2 },
    ]);
  });
});
