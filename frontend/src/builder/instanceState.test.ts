import { describe, expect, it } from "vitest";

import { NOT_STARTED, describeState, detailOf, stateFrom } from "./instanceState";

const crash = { state: "exited" as const, reason: "crashed" as const, code: 1, detail: "" };

describe("an instance's state in words", () => {
  it("counts down to the restart after a crash, with the attempt, and can be stopped", () => {
    const s = stateFrom({ ...crash, restart_in_s: 4, attempt: 3 }, 10_000);
    expect(describeState(s, 10_000)).toEqual({
      words: "Crashed (error status 1) — restarting in 4 s (attempt 3)",
      tone: "bad",
      stoppable: true,
    });
    expect(describeState(s, 12_500).words).toBe("Crashed (error status 1) — restarting in 2 s (attempt 3)");
    expect(describeState(s, 14_000).words).toBe("Crashed (error status 1) — restarting now (attempt 3)");
  });

  it("has nothing to stop once crashed with no restart pending, or stopped", () => {
    expect(describeState(stateFrom({ ...crash, restart_in_s: null, attempt: 2 }, 0), 0)).toEqual({
      words: "Crashed (error status 1)",
      tone: "bad",
      stoppable: false,
    });
    expect(describeState(stateFrom({ state: "stopped", detail: "" }, 0), 0).words).toBe("Stopped");
    expect(describeState(NOT_STARTED, 0)).toEqual({ words: "Not started", tone: "off", stoppable: false });
  });

  it("says why it ended in words, never raw codes or reasons", () => {
    const ended = (reason: "oom" | "terminated" | "exited" | "config" | "crashed", code: number) =>
      describeState(stateFrom({ state: "exited", reason, code, detail: "" }, 0), 0).words;
    expect(ended("oom", 137)).toBe("Out of memory");
    expect(ended("terminated", -15)).toBe("Stopped");
    expect(ended("exited", 0)).toBe("Finished");
    expect(ended("config", 78)).toBe("Cannot work with its settings");
    const crashed = (code: number) => ended("crashed", code);
    expect(crashed(-15)).toBe("Crashed (it was told to stop)");
    expect(crashed(-9)).toBe("Crashed (it was killed)");
    expect(crashed(-31)).toBe("Crashed (stopped by the system)");
    for (const code of [1, -15, -9, 137]) expect(crashed(code)).not.toMatch(/code -?\d+/);
    expect(describeState(stateFrom({ state: "running", detail: "" }, 0), 0)).toEqual({ words: "Running", tone: "ok", stoppable: true });
  });

  it("leaves out details the words already say", () => {
    const state = (detail: string, reason: "crashed" | "terminated" | "oom" = "crashed") =>
      stateFrom({ ...crash, reason, detail }, 0);
    expect(detailOf(state("exit status 1"))).toBe("");
    expect(detailOf(state("killed by signal SIGTERM"))).toBe("");
    expect(detailOf(state("wall-clock time limit reached; exit code -15"))).toBe("wall-clock time limit reached");
    expect(detailOf(state("the config cannot work (exit status 78); see the log"))).toBe(
      "the config cannot work; see the log",
    );
    expect(detailOf(state("terminated", "terminated"))).toBe("");
    expect(detailOf(state("exceeded 256 MiB", "oom"))).toBe("exceeded 256 MiB");
    expect(detailOf(state("No module named 'requests'"))).toBe("No module named 'requests'");
  });
});
