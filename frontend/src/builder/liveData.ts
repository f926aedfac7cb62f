// A dashboard room of the live service, as reactive state for the builder and the public
// view: the data model `{instanceId: lastOutput}`, each instance's state, and (for the
// owner) its recent log lines. Protocol: docs/live.md; client: ../live.ts.
import { onBeforeUnmount, reactive, ref, shallowRef } from "vue";

import { type JoinTarget, type LiveMessage, type LiveRoom, type LiveStatus, joinRoom } from "../live";

export type InstanceStateName = "not started" | "preparing" | "running" | "exited" | "stopped";

export interface InstanceState {
  state: InstanceStateName;
  detail: string;
  code: number | null;
}

export interface LogLine {
  n: number;
  status: string;
  text: string;
  at: string;
}

const MAX_LOG_LINES = 300;

export interface LiveDataOptions {
  /** The dashboard was saved somewhere (this tab included): its new revision. */
  onDashboard?: (revision: number) => void;
  /** The server refused something of this room (a command, the join itself). */
  onError?: (message: string) => void;
}

function stateOf(value: unknown): InstanceStateName {
  return value === "preparing" || value === "running" || value === "exited" || value === "stopped"
    ? value
    : "not started";
}

export function useLiveData(target: JoinTarget, options: LiveDataOptions = {}) {
  const data = reactive<Record<string, unknown>>({});
  const states = reactive<Record<string, InstanceState>>({});
  const logs = reactive<Record<string, LogLine[]>>({});
  const status = ref<LiveStatus>("connecting");
  const joined = ref(false);
  const room = shallowRef<LiveRoom | null>(null);
  let counter = 0;

  function addLog(instance: string, status: string, text: string, at?: string): void {
    const lines = (logs[instance] ??= []);
    lines.push({ n: counter++, status, text, at: at ?? new Date().toISOString() });
    if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
  }

  function onMessage(m: LiveMessage): void {
    const instance = typeof m.instance === "string" ? m.instance : "";
    switch (m.type) {
      case "JOINED": {
        joined.value = true;
        const instances = (m.instances ?? {}) as Record<string, Record<string, unknown>>;
        for (const key of Object.keys(data)) if (!(key in instances)) delete data[key];
        for (const [id, info] of Object.entries(instances)) {
          if ("data" in info) data[id] = info.data;
          states[id] = { state: stateOf(info.state), detail: String(info.detail ?? ""), code: null };
        }
        for (const line of Array.isArray(m.logs) ? (m.logs as LiveMessage[]) : []) {
          if (typeof line.instance === "string") {
            addLog(line.instance, String(line.status ?? ""), String(line.data ?? ""), line.at as string);
          }
        }
        break;
      }
      case "OUTPUT":
        if (instance) data[instance] = m.data;
        break;
      case "INIT":
        if (instance) states[instance] = { state: "running", detail: "", code: null };
        break;
      case "STATE":
        if (instance) {
          const detail = [m.detail, m.reason].filter((p) => typeof p === "string" && p).join(" — ");
          states[instance] = {
            state: stateOf(m.state),
            detail,
            code: typeof m.code === "number" ? m.code : null,
          };
        }
        break;
      case "STATUS":
        if (instance) addLog(instance, String(m.status ?? ""), String(m.data ?? ""));
        break;
      case "REMOVED":
        delete data[instance];
        delete states[instance];
        delete logs[instance];
        break;
      case "DASHBOARD":
        if (typeof m.revision === "number") options.onDashboard?.(m.revision);
        break;
      case "DROPPED":
        break;
      case "ERROR":
        options.onError?.(String(m.message ?? "The live service refused a request."));
        break;
    }
  }

  room.value = joinRoom(target, onMessage, (s) => {
    status.value = s;
  });
  onBeforeUnmount(() => room.value?.leave());

  function stateOfInstance(id: string): InstanceState {
    return states[id] ?? { state: "not started", detail: "", code: null };
  }

  return { data, states, logs, status, joined, room, stateOf: stateOfInstance };
}

export type LiveData = ReturnType<typeof useLiveData>;
