// A dashboard room of the live service, as reactive state for the builder and the public
// view: the data model `{instanceId: lastOutput}`, each instance's state, and (for the
// owner) its recent log lines. Protocol: docs/live.md; client: ../live.ts.
//
// The data model is held without deep proxies: each instance's value is the object the
// message brought, replaced whole by the next OUTPUT (only the top level is reactive),
// so it goes to a widget frame as it is, with no copy and no proxy per update.
import { onBeforeUnmount, reactive, ref, shallowReactive, shallowRef } from "vue";

import { type ConnectionStatus, type JoinTarget, type LiveRoom, type LiveServerMessage, joinRoom } from "../live";
import { type InstanceState, NOT_STARTED, stateFrom } from "./instanceState";

export type { InstanceState, InstanceStateName } from "./instanceState";

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
  /** An alert rule of the dashboard changed state (docs/alerts.md). */
  onAlert?: (message: Extract<LiveServerMessage, { type: "ALERT" }>) => void;
}

export function useLiveData(target: JoinTarget, options: LiveDataOptions = {}) {
  const data = shallowReactive<Record<string, unknown>>({});
  const states = reactive<Record<string, InstanceState>>({});
  const logs = reactive<Record<string, LogLine[]>>({});
  const status = ref<ConnectionStatus>("connecting");
  const joined = ref(false);
  const room = shallowRef<LiveRoom | null>(null);
  let counter = 0;

  function addLog(instance: string, status: string, text: string, at?: string): void {
    const lines = (logs[instance] ??= []);
    lines.push({ n: counter++, status, text, at: at ?? new Date().toISOString() });
    if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
  }

  function onMessage(m: LiveServerMessage): void {
    switch (m.type) {
      case "JOINED": {
        joined.value = true;
        for (const key of Object.keys(data)) if (!(key in m.instances)) delete data[key];
        for (const [id, info] of Object.entries(m.instances)) {
          if (info.at != null) data[id] = info.data;
          states[id] = stateFrom(info, Date.now());
        }
        for (const line of m.logs) addLog(line.instance, line.status, line.data);
        break;
      }
      case "OUTPUT":
        data[m.instance] = m.data;
        break;
      case "INIT":
        states[m.instance] = { ...NOT_STARTED, state: "running", attempt: states[m.instance]?.attempt ?? 0 };
        break;
      case "STATE":
        states[m.instance] = stateFrom(m, Date.now());
        break;
      case "STATUS":
        addLog(m.instance, m.status, m.data);
        break;
      case "REMOVED":
        delete data[m.instance];
        delete states[m.instance];
        delete logs[m.instance];
        break;
      case "DASHBOARD":
        options.onDashboard?.(m.revision);
        break;
      case "ERROR":
        options.onError?.(m.message);
        break;
      case "ALERT":
        options.onAlert?.(m);
        break;
    }
  }

  room.value = joinRoom(target, onMessage, (s) => {
    status.value = s;
  });
  onBeforeUnmount(() => room.value?.leave());

  function stateOfInstance(id: string): InstanceState {
    return states[id] ?? NOT_STARTED;
  }

  return { data, states, logs, status, joined, room, stateOf: stateOfInstance };
}

export type LiveData = ReturnType<typeof useLiveData>;
