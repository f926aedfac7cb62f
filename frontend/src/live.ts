// The live client: one WebSocket per tab to /api/live, shared by every room the page joins.
//
//   const room = joinRoom({ dashboard: id }, (message) => ..., (status) => ...);
//   room.command("RESTART", "i1");
//   room.leave();
//
// The connection TICKs every 15 s (the server stops a dashboard's integrations when
// nobody ticks), reconnects with back-off after a drop and joins every room again;
// the server answers each JOIN with a JOINED snapshot (the last value of every
// instance), so a page never misses the current state. Protocol: docs/live.md; the
// message types are generated from the server's models (src/generated/api.ts).
import type { LiveClientMessage, LiveServerMessage } from "./generated/api";

export type { LiveServerMessage } from "./generated/api";

export type JoinTarget =
  | { dashboard: string }
  | { share: string }
  | { dev: string; config: Record<string, unknown> };

/** The tab's connection to the live service. */
export type ConnectionStatus = "connecting" | "open" | "closed";

export interface LiveRoom {
  /** `dashboard:<id>` or `dev:<module id>` once JOINED; null before. */
  readonly name: string | null;
  command(type: "RESTART" | "TERMINATE", instance: string): void;
  devRestart(config?: Record<string, unknown>): void;
  devStop(): void;
  leave(): void;
}

export const TICK_MS = 15_000;
const MAX_BACKOFF_MS = 15_000;

type Listener = (message: LiveServerMessage) => void;
type StatusListener = (status: ConnectionStatus) => void;

class Membership implements LiveRoom {
  name: string | null = null;
  /** The request type whose ERROR answers belong to this room before it has a name. */
  readonly request: string;

  constructor(
    private readonly socket: LiveSocket,
    readonly target: JoinTarget,
    readonly listener: Listener,
    readonly status?: StatusListener,
  ) {
    this.request = "dev" in target ? "DEV_START" : "JOIN";
  }

  joinMessage(): LiveClientMessage {
    const t = this.target;
    if ("dev" in t) return { type: "DEV_START", module: t.dev, config: t.config };
    if ("share" in t) return { type: "JOIN", share: t.share };
    return { type: "JOIN", dashboard: t.dashboard };
  }

  command(type: "RESTART" | "TERMINATE", instance: string): void {
    if (this.name) this.socket.send({ type, room: this.name, instance });
  }

  devRestart(config?: Record<string, unknown>): void {
    if (!("dev" in this.target)) return;
    if (config) this.target.config = config;
    this.socket.send({ type: "DEV_RESTART", module: this.target.dev, config: this.target.config });
  }

  devStop(): void {
    if ("dev" in this.target) this.socket.send({ type: "DEV_STOP", module: this.target.dev });
  }

  leave(): void {
    this.socket.remove(this);
  }
}

/** Where the WebSocket lives: the page's own origin (ws:// or wss://). */
export function liveUrl(location: Location = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/live`;
}

class LiveSocket {
  private ws: WebSocket | null = null;
  private rooms = new Set<Membership>();
  private tick: ReturnType<typeof setInterval> | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private status: ConnectionStatus = "closed";

  add(room: Membership): void {
    this.rooms.add(room);
    room.status?.(this.status === "open" ? "open" : "connecting");
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.send(room.joinMessage());
    else this.connect();
  }

  remove(room: Membership): void {
    if (!this.rooms.delete(room)) return;
    if (room.name) this.send({ type: "LEAVE", room: room.name });
    if ("dev" in room.target) this.send({ type: "DEV_STOP", module: room.target.dev });
    if (this.rooms.size === 0) this.close();
  }

  send(message: LiveClientMessage): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private connect(): void {
    if (this.ws || this.retry) return;
    this.setStatus("connecting");
    const ws = new WebSocket(liveUrl());
    this.ws = ws;
    ws.onopen = () => {
      this.failures = 0;
      this.setStatus("open");
      for (const room of this.rooms) {
        room.name = null;
        this.send(room.joinMessage());
      }
      this.tick = setInterval(() => this.send({ type: "TICK" }), TICK_MS);
    };
    ws.onmessage = (event) => this.dispatch(event.data);
    ws.onclose = () => {
      if (this.tick) clearInterval(this.tick);
      this.tick = null;
      this.ws = null;
      if (this.rooms.size === 0) {
        this.setStatus("closed");
        return;
      }
      this.setStatus("connecting");
      const wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures) * (0.75 + Math.random() / 2);
      this.failures += 1;
      this.retry = setTimeout(() => {
        this.retry = null;
        this.connect();
      }, wait);
    };
  }

  private close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const ws = this.ws;
    this.ws = null;
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    ws?.close();
    this.setStatus("closed");
  }

  private dispatch(raw: unknown): void {
    if (typeof raw !== "string") return;
    let frame: unknown;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    // A frame is one message, or a batch of messages in order.
    // (The server sends only its declared messages: the cast trusts our own server.)
    for (const message of Array.isArray(frame) ? frame : [frame]) this.deliver(message as LiveServerMessage);
  }

  private deliver(message: LiveServerMessage): void {
    if (!message || typeof message.type !== "string") return;
    if (message.type === "TICK") return;
    for (const room of this.rooms) {
      if (message.type === "JOINED" && !room.name) {
        if (!matches(room.target, message.room)) continue;
        room.name = message.room;
      } else if (message.type === "ERROR" && !message.room) {
        // Answers to requests: to the rooms that have not joined yet (a refused JOIN),
        // or to every room for errors of commands.
        if (room.name && message.request === room.request) continue;
      } else if (message.room !== room.name) {
        continue;
      }
      room.listener(message);
    }
  }

  private setStatus(status: ConnectionStatus): void {
    this.status = status;
    for (const room of this.rooms) room.status?.(status);
  }
}

function matches(target: JoinTarget, room: string): boolean {
  if ("dev" in target) return room === `dev:${target.dev}`;
  if ("dashboard" in target) return room === `dashboard:${target.dashboard}`;
  return room.startsWith("dashboard:"); // a share token names no id: the next dashboard JOINED
}

let shared: LiveSocket | null = null;

/** Join a room on the tab's shared connection; see the file comment. */
export function joinRoom(target: JoinTarget, onMessage: Listener, onStatus?: StatusListener): LiveRoom {
  shared ??= new LiveSocket();
  const room = new Membership(shared, { ...target } as JoinTarget, onMessage, onStatus);
  shared.add(room);
  return room;
}
