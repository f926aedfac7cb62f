// The dashboard's time range (docs/history.md): Live (the default), the last 15 min,
// 1 h, 24 h or 7 days, or a custom range. Kept in the page's URL query (`?range=1h`,
// `?from=2026-12-02T17:00:00.000Z&to=…`) so a link opens the same view.
//
// A page calls `provideTimeRange({ dashboard: id })` (or `{ share: token }`) in its
// setup: it reads the range from the URL, writes it back when it changes, and gives
// every widget below it (WidgetCell, WidgetFrame) the range and a way to read the
// history of a widget's own source through the typed API client. A past range is
// paused: every widget shows recorded values, and live updates wait until "Live".
import {
  type InjectionKey,
  type Ref,
  type ShallowReactive,
  inject,
  onBeforeUnmount,
  provide,
  ref,
  shallowReactive,
  shallowRef,
  toRaw,
  watch,
} from "vue";
import { type LocationQuery, useRoute, useRouter } from "vue-router";

import { client, ok } from "../api";
import type { HistoryPublic } from "../generated/api";
import type { WidgetRange } from "../widgets/host";
import { formatPointer, parsePointer } from "../widgets/pointer";
import { type ReplayState, ReplayPlayer, timeline } from "./replay";

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

/** What widgets are told (`visualbox.range`): live, a paused range in ms since the
 *  epoch, or live with a replay of a recorded range (./replay.ts). */
export type ShownRange = WidgetRange;

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

/** One viewer's replay of the paused range: its player, where it is, and the value
 *  of each source (`/i1/temperature`) at the replay's position. */
export interface ReplaySession {
  from: number;
  to: number;
  loading: Ref<boolean>;
  problem: Ref<string | null>;
  state: Ref<ReplayState | null>;
  player: Ref<ReplayPlayer | null>;
  values: ShallowReactive<Record<string, unknown>>;
}

export interface HistoryContext {
  /** The range widgets are told about. */
  shown: Ref<ShownRange>;
  /** The history of one source (`/i1/temperature`), through the page's route. */
  history(source: string, query: HistoryQuery): Promise<HistoryPublic>;
  /** The replay under way, if any. */
  replay: Ref<ReplaySession | null>;
  /** Replay the paused range with the recorded values of these sources. */
  startReplay(sources: string[]): Promise<void>;
  stopReplay(): void;
}

/** Points read per source for a replay (the history API's largest answer). */
const REPLAY_POINTS = 10_000;

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
 * Give every widget below this component the shown range, the history of its source
 * and the replay of a paused range. Returns how to stop a replay (back to the paused
 * range it started from).
 */
function provideHistory(shown: Ref<ShownRange>, history: HistoryContext["history"]): { stopReplay: () => void } {
  const replay = shallowRef<ReplaySession | null>(null);
  let resting: ShownRange | null = null;

  function stopReplay(): void {
    const session = replay.value;
    if (!session) return;
    session.player.value?.destroy();
    replay.value = null;
    if (resting) shown.value = resting;
    resting = null;
  }

  async function startReplay(sources: string[]): Promise<void> {
    stopReplay();
    const paused = shown.value;
    if (paused.live) return;
    resting = paused;
    const session: ReplaySession = {
      from: paused.from,
      to: paused.to,
      loading: ref(true),
      problem: ref(null),
      state: shallowRef(null),
      player: shallowRef(null),
      values: shallowReactive<Record<string, unknown>>({}),
    };
    replay.value = session;
    const unique = [...new Set(sources)];
    const answers = await Promise.allSettled(
      unique.map((source) => history(source, { points: REPLAY_POINTS, from: session.from, to: session.to })),
    );
    if (replay.value !== session) return; // stopped (or restarted) meanwhile
    session.loading.value = false;
    const series: [string, [number, unknown][]][] = [];
    answers.forEach((answer, i) => {
      if (answer.status === "fulfilled") series.push([unique[i], answer.value.points as [number, unknown][]]);
    });
    const events = timeline(series, session.from, session.to);
    if (!events.length) {
      session.problem.value = "Nothing was recorded in this range, so there is nothing to replay.";
      return;
    }
    const player = new ReplayPlayer(
      events,
      session,
      (event) => {
        session.values[event.source] = event.value;
      },
      (state) => {
        const before = session.state.value;
        session.state.value = state;
        // Widgets run the replay's clock themselves: they are told only when it jumps,
        // starts, stops or changes speed, not at every step.
        if (
          !before ||
          before.anchorAt !== state.anchorAt ||
          before.anchorWall !== state.anchorWall ||
          before.playing !== state.playing ||
          before.speed !== state.speed ||
          before.seek !== state.seek
        ) {
          shown.value = {
            live: true,
            from: null,
            to: null,
            replay: {
              from: session.from,
              to: session.to,
              at: state.anchorAt,
              wall: state.anchorWall,
              seek: state.seek,
              speed: state.speed,
              playing: state.playing,
            },
          };
        }
      },
    );
    session.player.value = player;
    player.seek(session.from);
  }

  provide(KEY, { shown, history, replay, startReplay, stopReplay });
  onBeforeUnmount(stopReplay);
  return { stopReplay };
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
  const { stopReplay } = provideHistory(shown, (source, q) => fetchHistory(target, source, q));
  watch(range, (next) => {
    stopReplay();
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
  return { range, shown, problem };
}

/**
 * A snapshot's frozen range (docs/history.md#snapshots): widgets read the series stored
 * in the snapshot (never the history, which may have expired) and may replay them.
 * `snapshot` gives the snapshot once it is loaded (widgets start after that).
 */
export function provideFrozenRange(
  snapshot: () => { start: number; end: number; series: HistoryPublic[] } | null,
): void {
  const shown = ref<ShownRange>(LIVE);
  watch(
    snapshot,
    (s) => {
      if (s) shown.value = { live: false, from: s.start, to: s.end };
    },
    { immediate: true, flush: "sync" },
  );
  provideHistory(shown, async (source, q) => {
    const s = snapshot();
    const wanted = sourceSeries(source);
    // The plain objects, not the page's reactive proxies: the answer is posted to a frame.
    const stored = s && wanted && toRaw(s.series).find((x) => x.instance === wanted.instance && x.pointer === wanted.pointer);
    if (!s || !stored) throw new Error("Nothing was kept in this snapshot for this widget.");
    const from = q.from ?? s.start;
    const to = q.to ?? s.end;
    const inside = <T extends [number, ...unknown[]]>(rows: T[]) => rows.filter((row) => row[0] >= from && row[0] <= to);
    const points = inside(stored.points as [number, unknown][]);
    const bands = inside(stored.bands as [number, number, number][]);
    // The whole range: the value recorded last in it, as it was stored.
    const last = from <= s.start && to >= s.end ? stored.last : (points.at(-1) ?? null);
    return { ...stored, start: from, end: to, points, bands, last } as HistoryPublic;
  });
}
