// An integration instance's state as the builder shows it: in words a user understands
// ("Crashed (error status 1) — restarting in 4 s (attempt 3)", never "exited",
// "exit code 1" or "code -15"), a tone for its colour, and whether Stop has something
// to stop.
import { onBeforeUnmount, ref, type Ref } from "vue";

import type { EndReason, InstanceState as ServerState } from "../generated/api";

export type InstanceStateName = "not started" | ServerState;

export interface InstanceState {
  state: InstanceStateName;
  reason: EndReason | null;
  code: number | null;
  /** The owner's words behind the reason (a tool's or the server's message). */
  detail: string;
  /** When the pending restart after a crash starts (`Date.now()` ms); `null`: none. */
  restartAt: number | null;
  /** Restarts after crashes in a row, the pending one included. */
  attempt: number;
}

export type Tone = "ok" | "busy" | "bad" | "off";

export interface StateWords {
  words: string;
  tone: Tone;
  /** Running, starting or waiting to restart: Stop has something to stop. */
  stoppable: boolean;
}

export const NOT_STARTED: InstanceState = {
  state: "not started",
  reason: null,
  code: null,
  detail: "",
  restartAt: null,
  attempt: 0,
};

/** The state a STATE message (or a JOINED entry) describes, received at `now`. */
export function stateFrom(
  m: { state: ServerState; reason?: EndReason | null; code?: number | null; detail: string; restart_in_s?: number | null; attempt?: number },
  now: number,
): InstanceState {
  return {
    state: m.state,
    reason: m.reason ?? null,
    code: m.code ?? null,
    detail: m.detail,
    restartAt: m.restart_in_s != null ? now + m.restart_in_s * 1000 : null,
    attempt: m.attempt ?? 0,
  };
}

/** Signals a program is commonly ended by, in words (the code of a run killed by one is
 * minus its number). */
const SIGNALS: Record<number, string> = {
  [-6]: "it aborted",
  [-9]: "it was killed",
  [-11]: "invalid memory access",
  [-15]: "it was told to stop",
};

/** How a crash ended, in words: "(error status 1)", "(it was killed)". */
function crashWords(code: number | null): string {
  if (code === null || code === 0) return "";
  if (code > 0) return ` (error status ${code})`;
  return ` (${SIGNALS[code] ?? "stopped by the system"})`;
}

/** Why it ended, in words (for an `exited` state). */
function ending(s: InstanceState): { words: string; tone: Tone } {
  const exitCode = crashWords(s.code);
  switch (s.reason) {
    case "exited":
      return { words: "Finished", tone: "off" };
    case "oom":
      return { words: "Out of memory", tone: "bad" };
    case "cpu_limit":
      return { words: "Stopped: used too much processor time", tone: "bad" };
    case "time_limit":
      return { words: "Stopped: ran too long", tone: "bad" };
    case "terminated":
      return { words: "Stopped", tone: "off" };
    case "config":
      return { words: "Cannot work with its settings", tone: "bad" };
    case "unavailable":
      return { words: "Cannot start: its module is unavailable", tone: "bad" };
    case "quota":
      return { words: "Not started: too many integrations running", tone: "bad" };
    case "crashed":
      return { words: `Crashed${exitCode}`, tone: "bad" };
    default:
      return s.code === 0 ? { words: "Finished", tone: "off" } : { words: `Crashed${exitCode}`, tone: "bad" };
  }
}

/** The state in words at time `now` (ms), with its tone and whether it can be stopped. */
export function describeState(s: InstanceState, now: number): StateWords {
  switch (s.state) {
    case "preparing":
      return { words: "Starting (installing what it needs)…", tone: "busy", stoppable: true };
    case "running":
      return { words: "Running", tone: "ok", stoppable: true };
    case "stopped":
      return { words: "Stopped", tone: "off", stoppable: false };
    case "exited": {
      const end = ending(s);
      if (s.restartAt === null) return { ...end, stoppable: false };
      const seconds = Math.max(0, Math.ceil((s.restartAt - now) / 1000));
      const when = seconds > 0 ? `restarting in ${seconds} s` : "restarting now";
      return { words: `${end.words} — ${when} (attempt ${s.attempt})`, tone: "bad", stoppable: true };
    }
    default:
      return { words: "Not started", tone: "off", stoppable: false };
  }
}

/** What a sandbox says of how a process ended ("exit status 1", "killed by signal
 * SIGTERM"): the state's words say it already. */
const EXIT_WORDS = /\s*\(?\b(?:exit (?:status|code) -?\d+|killed by signal \w+)\)?/g;

/** The owner's words behind the state, unless the state's words already say it all
 * ("exit status 1" under "Crashed (error status 1)", "terminated" under "Stopped"). */
export function detailOf(s: InstanceState): string {
  if (s.state !== "exited" || s.reason === "terminated") return "";
  return s.detail
    .replace(EXIT_WORDS, "")
    .replace(/^[;,\s]+|[;,\s]+$/g, "")
    .replace(/;\s*;/g, ";");
}

/** The current time (ms), updated every `everyMs` while the component is mounted. */
export function useNow(everyMs = 500): Ref<number> {
  const now = ref(Date.now());
  const timer = window.setInterval(() => (now.value = Date.now()), everyMs);
  onBeforeUnmount(() => window.clearInterval(timer));
  return now;
}
