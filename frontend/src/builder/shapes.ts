// Data shapes: what a value of the live data model looks like, in the words widgets use to
// say what they draw (`accepts` in a widget's visualbox.json, docs/modules.md). The builder
// uses them to offer the widgets that fit a chosen source first, and to mark the paths of
// the source tree that fit the selected widget.
import type { ManifestPublic } from "../generated/api";

export type Shape = NonNullable<ManifestPublic["accepts"]>[number];

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
/** A time: a number (seconds or milliseconds) or a date string. */
const isTime = (v: unknown): boolean => isNumber(v) || (typeof v === "string" && !Number.isNaN(Date.parse(v)));
const isPoint = (v: unknown): boolean =>
  isObject(v) && isNumber(v.lat) && (isNumber(v.lon) || isNumber(v.lng));
/** A series: [[t, v], ...], at least one pair. */
const isSeries = (v: unknown): boolean =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((p) => Array.isArray(p) && p.length === 2 && isTime(p[0]) && (isNumber(p[1]) || p[1] === null));
/** A table: rows that are objects, or {columns: [...], rows: [[...], ...]}. */
const isTable = (v: unknown): boolean =>
  (Array.isArray(v) && v.length > 0 && v.every(isObject)) ||
  (isObject(v) && Array.isArray(v.columns) && Array.isArray(v.rows));
/** Points: a point, a list of points, or an object holding a list of them (`markers`). */
const isGeo = (v: unknown): boolean =>
  isPoint(v) ||
  (Array.isArray(v) && v.length > 0 && v.every(isPoint)) ||
  (isObject(v) && Object.values(v).some((x) => Array.isArray(x) && x.length > 0 && x.every(isPoint)));

/** Every shape `value` has (a list of points is a table and geo; `undefined`: none). */
export function shapesOf(value: unknown): Shape[] {
  if (isNumber(value)) return ["number"];
  if (typeof value === "string") return ["string"];
  if (typeof value === "boolean") return ["boolean"];
  const out: Shape[] = [];
  if (isSeries(value)) out.push("series");
  // An object of series (several lines) is a series too.
  else if (isObject(value) && Object.keys(value).length > 0 && Object.values(value).every(isSeries)) {
    out.push("series");
  }
  if (isTable(value)) out.push("table");
  if (isGeo(value)) out.push("geo");
  if (isObject(value)) out.push("object");
  return out;
}

/** Does a widget that draws `accepts` fit `value`? Unknown (no `accepts`): no. */
export function fits(accepts: readonly Shape[] | null | undefined, value: unknown): boolean {
  if (!accepts?.length) return false;
  const shapes = shapesOf(value);
  return accepts.some((shape) => shapes.includes(shape));
}
