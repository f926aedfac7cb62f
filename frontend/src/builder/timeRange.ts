// The dashboard's time range (docs/history.md): Live (the default), the last 15 min,
// 1 h, 24 h or 7 days, or a custom range. Kept in the page's URL query (`?range=1h`,
// `?from=2026-12-02T17:00:00.000Z&to=…`) so a link opens the same view.
//
// A page calls `provideTimeRange({ dashboard: id })` (or `{ share: token }`) in its
// setup: it reads the range from the URL, writes it back when it changes, and gives
// every widget below it (WidgetCell, WidgetFrame) the range and a way to read the
// history of a widget's own source through the typed API client. A past range is
// paused: every widget shows recorded values, and live updates wait until "Live".
import { type InjectionKey, type Ref, inject, provide, ref, watch } from "vue";
import { type LocationQuery, useRoute, useRouter } from "vue-router";

import { client, ok } from "../api";
import type { HistoryPublic } from "../generated/api";
import { formatPointer, parsePointer } from "../widgets/pointer";

export type RangePreset = "15m" | "1h" | "24h" | "7d";

export type TimeRange =
  | { kind: "live" }
  | { kind: "last"; preset: RangePreset }
  | { kind: "custom"; from: number; to: number };

export const PRESETS: { key: RangePreset; label: string; ms: number }[] = [
  { key: "15m", label: "Last 15 min", ms: 15 * 60_000 },
  { key: "1h", label: "Last 1 h", ms: 3_600_000 },
  { key: "24h", label: "Last 24 h", ms: 86_400_000 },
  { key: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
];

/** What widgets are told (`visualbox.range`): live, or a paused range in ms since the epoch. */
export type ShownRange = { live: true; from: null; to: null } | { live: false; from: number; to: number };

export const LIVE: ShownRange = { live: true, from: null, to: null };

/** The range as widgets see it; a "last …" range is counted back from `now`. */
export function resolveRange(range: TimeRange, now: number): ShownRange {
  if (range.kind === "custom") return { live: false, from: range.from, to: range.to };
  if (range.kind === "last") {
    const preset = PRESETS.find((p) => p.key === range.preset) ?? PRESETS[1];
    return { live: false, from: now - preset.ms, to: now };
  }
  return LIVE;
}

export function sameRange(a: TimeRange, b: TimeRange): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A time of the URL: ISO 8601 or ms since the epoch; null if it is neither. */
function parseTime(text: string): number | null {
  if (/^\d{1,15}$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

function first(value: LocationQuery[string] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v === null || v === undefined ? undefined : v;
}

/** The range a URL query asks for, and why it was not understood (then: Live). */
export function parseRangeQuery(query: LocationQuery): { range: TimeRange; problem: string | null } {
  const name = first(query.range);
  const fromText = first(query.from);
  const toText = first(query.to);
  if (name !== undefined) {
    if (name === "live") return { range: { kind: "live" }, problem: null };
    const preset = PRESETS.find((p) => p.key === name);
    if (preset) return { range: { kind: "last", preset: preset.key }, problem: null };
    return {
      range: { kind: "live" },
      problem: `The link asks for a time range “${name}” that does not exist (use 15m, 1h, 24h or 7d), so live data is shown.`,
    };
  }
  if (fromText === undefined && toText === undefined) return { range: { kind: "live" }, problem: null };
  const from = fromText === undefined ? null : parseTime(fromText);
  const to = toText === undefined ? null : parseTime(toText);
  if (from === null || to === null) {
    return {
      range: { kind: "live" },
      problem: "The link's time range needs a start and an end (such as 2026-12-02T17:00:00Z), so live data is shown.",
    };
  }
  if (from >= to) {
    return { range: { kind: "live" }, problem: "The link's time range starts after it ends, so live data is shown." };
  }
  return { range: { kind: "custom", from, to }, problem: null };
}

/** The URL query of a range (Live: none). */
export function rangeQuery(range: TimeRange): Record<string, string> {
  if (range.kind === "last") return { range: range.preset };
  if (range.kind === "custom") {
    return { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString() };
  }
  return {};
}

/** The query with the range's keys replaced (other keys kept). */
export function withRange(query: LocationQuery, range: TimeRange): LocationQuery {
  const rest: LocationQuery = { ...query };
  delete rest.range;
  delete rest.from;
  delete rest.to;
  return { ...rest, ...rangeQuery(range) };
}

/** A time as a `datetime-local` input's value (local time, to the minute). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** A `datetime-local` value as ms since the epoch (local time); null if it is not one. */
export function fromLocalInput(text: string): number | null {
  const m = LOCAL.exec(text.trim());
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map((v) => Number(v ?? 0));
  const date = new Date(year, month - 1, day, hour, minute, second);
  // new Date rolls 31 February over into March: refuse what is not a real date.
  if (date.getMonth() !== month - 1 || date.getDate() !== day || date.getHours() !== hour) return null;
  return date.getTime();
}

export type CustomErrors = { from?: string; to?: string };

/** A custom range from the two inputs, or what is wrong with them, in words. */
export function parseCustom(fromText: string, toText: string, now: number): { range: TimeRange } | { errors: CustomErrors } {
  const errors: CustomErrors = {};
  const from = fromText.trim() ? fromLocalInput(fromText) : null;
  const to = toText.trim() ? fromLocalInput(toText) : null;
  if (!fromText.trim()) errors.from = "Enter when the range starts.";
  else if (from === null) errors.from = "This is not a date and time.";
  if (!toText.trim()) errors.to = "Enter when the range ends.";
  else if (to === null) errors.to = "This is not a date and time.";
  if (from !== null && to !== null) {
    if (from >= to) errors.to = "The end must be after the start.";
    else if (from >= now) errors.from = "The start must be in the past: nothing is recorded yet after now.";
  }
  if (errors.from || errors.to || from === null || to === null) return { errors };
  return { range: { kind: "custom", from, to } };
}

/** The instance and the pointer into its output of a widget's source (`/i1/temperature`). */
export function sourceSeries(source: string | null | undefined): { instance: string; pointer: string } | null {
  if (!source) return null;
  let tokens: string[];
  try {
    tokens = parsePointer(source);
  } catch {
    return null;
  }
  const [instance, ...rest] = tokens;
  if (!instance) return null;
  return { instance, pointer: formatPointer(rest) };
}

// -- what a page gives its widgets -------------------------------------------------

export interface HistoryQuery {
  points: number;
  from?: number;
  to?: number;
}

export interface HistoryContext {
  /** The range widgets are told about. */
  shown: Ref<ShownRange>;
  /** The history of one source (`/i1/temperature`), through the page's route. */
  history(source: string, query: HistoryQuery): Promise<HistoryPublic>;
}

const KEY: InjectionKey<HistoryContext> = Symbol("history");

/** The page's history context, or null (the studio preview has none). */
export function useHistoryContext(): HistoryContext | null {
  return inject(KEY, null);
}

export type HistoryTarget = { dashboard: string } | { share: string };

async function fetchHistory(target: HistoryTarget, source: string, q: HistoryQuery): Promise<HistoryPublic> {
  const series = sourceSeries(source);
  if (!series) throw new Error("This widget has no data source, so it has no history.");
  const query = { ...series, points: String(q.points), from: q.from?.toString(), to: q.to?.toString() };
  // openapi-fetch reads the answer's [t, value] tuples as plain arrays: the same JSON.
  const answer =
    "dashboard" in target
      ? await ok(
          client.GET("/api/dashboards/{dashboard_id}/history", {
            params: { path: { dashboard_id: target.dashboard }, query },
          }),
        )
      : await ok(client.GET("/api/public/dashboards/{token}/history", { params: { path: { token: target.share }, query } }));
  return answer as HistoryPublic;
}

/**
 * The page's time range, from and to its URL, given to every widget below the page.
 * Returns the chosen range (`range`, for the picker) and what widgets are told (`shown`).
 */
export function provideTimeRange(target: HistoryTarget): {
  range: Ref<TimeRange>;
  shown: Ref<ShownRange>;
  problem: Ref<string | null>;
} {
  const route = useRoute();
  const router = useRouter();
  const parsed = parseRangeQuery(route.query);
  const range = ref<TimeRange>(parsed.range);
  const problem = ref<string | null>(parsed.problem);
  const shown = ref<ShownRange>(resolveRange(range.value, Date.now()));
  watch(range, (next) => {
    shown.value = resolveRange(next, Date.now());
    problem.value = null;
    const query = withRange(route.query, next);
    if (JSON.stringify(query) !== JSON.stringify(route.query)) void router.replace({ query });
  });
  // Back and forward, or a link to the same page with another range.
  watch(
    () => route.query,
    (query) => {
      const next = parseRangeQuery(query).range;
      if (!sameRange(next, range.value)) range.value = next;
    },
  );
  provide(KEY, { shown, history: (source, q) => fetchHistory(target, source, q) });
  return { range, shown, problem };
}
