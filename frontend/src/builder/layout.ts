// The grid's layout, shared by the builder (gridstack) and the read-only grid, so that
// both draw exactly the saved placements: 24 columns, rows of ROW_PX, each widget inset
// by MARGIN_PX on every side (gridstack's margin), gaps kept (nothing floats up).
import type { Placement } from "./editor";

export const COLUMNS = 24;
export const ROW_PX = 30;
export const MARGIN_PX = 6;

type Cell = Pick<Placement, "x" | "y" | "w" | "h">;

/** Widgets from top to bottom, left to right: the order to read them in (and to add
 * them to gridstack, so that any collision moves the later one, never the first). */
export function readingOrder<T extends Cell>(widgets: readonly T[]): T[] {
  return [...widgets].sort((a, b) => a.y - b.y || a.x - b.x);
}

/** How many rows the widgets take (at least one). */
export function rowsOf(widgets: readonly Cell[]): number {
  return Math.max(1, ...widgets.map((w) => w.y + w.h));
}

/** Placements of gridstack's nodes; a coordinate gridstack leaves out is its default. */
export function placementsOf(
  nodes: readonly { id?: unknown; x?: number; y?: number; w?: number; h?: number }[],
): Placement[] {
  return nodes
    .filter((n) => typeof n.id === "string")
    .map((n) => ({ id: String(n.id), x: n.x ?? 0, y: n.y ?? 0, w: n.w ?? 1, h: n.h ?? 1 }));
}
