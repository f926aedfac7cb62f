// Replay of a recorded range (docs/history.md#replay), for one viewer: the recorded
// values of the dashboard's sources played back into its widgets at 1×, 10× or 60×,
// with pause and a scrubber. Only the history reads reach the server: the running
// instance and the other viewers never see a replay.
//
// The player is plain logic over a timeline of recorded values and a clock (real
// timers in the page, a fake one in its tests): it delivers each value when its
// recorded time comes on the replay's clock, in order, and says where it is.

export const SPEEDS = [1, 10, 60] as const;
export type Speed = (typeof SPEEDS)[number];

/** One recorded value of one source (`/i1/temperature`) at time `t` (ms since the epoch). */
export interface ReplayEvent {
  t: number;
  source: string;
  value: unknown;
}

/** Where the replay is. `anchorAt` (recorded time) was the position at `anchorWall`
 *  (wall-clock ms): widgets run their own clock from these; `seek` counts jumps. */
export interface ReplayState {
  at: number;
  playing: boolean;
  speed: Speed;
  ended: boolean;
  seek: number;
  anchorAt: number;
  anchorWall: number;
}

export interface Timers {
  now(): number;
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The scrubber moves at least this often while playing, even between values. */
const TICK_MS = 250;

/** Every source's recorded points as one timeline in time order (equal times keep the
 *  sources' order). Values of `null` time or out of [from, to] are left out. */
export function timeline(series: [string, [number, unknown][]][], from: number, to: number): ReplayEvent[] {
  const events: ReplayEvent[] = [];
  for (const [source, points] of series) {
    for (const [t, value] of points) {
      if (typeof t === "number" && t >= from && t <= to) events.push({ t, source, value });
    }
  }
  // Array.prototype.sort is stable: equal times keep the order they were pushed in.
  return events.sort((a, b) => a.t - b.t);
}

export class ReplayPlayer {
  readonly from: number;
  readonly to: number;
  private readonly events: ReplayEvent[];
  private readonly sources: string[];
  private readonly deliver: (event: ReplayEvent) => void;
  private readonly onState: (state: ReplayState) => void;
  private readonly timers: Timers;
  private next = 0;
  private timer: unknown = null;
  private current: ReplayState;

  /**
   * `deliver` gets each value when its time comes (and, at a seek, each source's value
   * at the new position); `onState` gets every change of position or mode.
   */
  constructor(
    events: ReplayEvent[],
    range: { from: number; to: number },
    deliver: (event: ReplayEvent) => void,
    onState: (state: ReplayState) => void,
    timers: Timers = REAL_TIMERS,
  ) {
    this.events = events;
    this.sources = [...new Set(events.map((e) => e.source))];
    this.from = range.from;
    this.to = range.to;
    this.deliver = deliver;
    this.onState = onState;
    this.timers = timers;
    const wall = timers.now();
    this.current = { at: range.from, playing: false, speed: 1, ended: false, seek: 0, anchorAt: range.from, anchorWall: wall };
  }

  get state(): ReplayState {
    return this.current;
  }

  /** The replay's position now (recorded time, ms since the epoch). */
  position(): number {
    const s = this.current;
    if (!s.playing) return s.at;
    return Math.min(this.to, s.anchorAt + (this.timers.now() - s.anchorWall) * s.speed);
  }

  play(): void {
    if (this.current.playing) return;
    if (this.current.ended || this.current.at >= this.to) this.seek(this.from);
    this.update({ playing: true, ended: false, anchorAt: this.current.at, anchorWall: this.timers.now() });
    this.tick();
  }

  pause(): void {
    if (!this.current.playing) return;
    const at = this.position();
    this.stopTimer();
    this.update({ at, playing: false, anchorAt: at, anchorWall: this.timers.now() });
  }

  setSpeed(speed: Speed): void {
    if (speed === this.current.speed) return;
    const at = this.position();
    this.update({ at, speed, anchorAt: at, anchorWall: this.timers.now() });
    if (this.current.playing) {
      this.stopTimer();
      this.tick();
    }
  }

  /** Jump to `t` (clamped to the range): each source gets its last value at or before
   *  it, or null if it had none yet. */
  seek(t: number): void {
    const at = Math.max(this.from, Math.min(this.to, t));
    this.stopTimer();
    const latest = new Map<string, ReplayEvent>();
    let i = 0;
    while (i < this.events.length && this.events[i].t <= at) {
      latest.set(this.events[i].source, this.events[i]);
      i++;
    }
    this.next = i;
    this.update({
      at,
      ended: at >= this.to,
      playing: this.current.playing && at < this.to,
      seek: this.current.seek + 1,
      anchorAt: at,
      anchorWall: this.timers.now(),
    });
    // A source with nothing recorded yet at this position has no value (null).
    for (const source of this.sources) this.deliver(latest.get(source) ?? { t: at, source, value: null });
    if (this.current.playing) this.tick();
  }

  destroy(): void {
    this.stopTimer();
    this.current = { ...this.current, playing: false };
  }

  private tick(): void {
    this.timer = null;
    const at = this.position();
    while (this.next < this.events.length && this.events[this.next].t <= at) {
      this.deliver(this.events[this.next]);
      this.next++;
    }
    if (at >= this.to) {
      this.update({ at: this.to, playing: false, ended: true, anchorAt: this.to, anchorWall: this.timers.now() });
      return;
    }
    this.update({ at });
    // Wake up when the next value is due on the replay's clock, or to move the scrubber.
    const s = this.current;
    const due = this.next < this.events.length ? this.events[this.next].t : this.to;
    const wait = Math.max(0, Math.ceil((due - s.anchorAt) / s.speed - (this.timers.now() - s.anchorWall)));
    this.timer = this.timers.set(() => this.tick(), Math.min(wait, TICK_MS));
  }

  private stopTimer(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  private update(change: Partial<ReplayState>): void {
    this.current = { ...this.current, ...change };
    this.onState(this.current);
  }
}
