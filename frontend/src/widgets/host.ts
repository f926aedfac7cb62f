// The host side of a widget: one sandboxed iframe and the channel to the SDK in it
// (src/visualbox/frames/sdk.js; docs/widgets.md). Used by the dashboard builder, the
// studio preview and the public view.
//
//   const host = new WidgetHost(cell, widget.frame, { title: "Temperature" });
//   host.on("log", (entry) => console.info(entry.message));
//   host.setConfig(widget.config);
//   host.setData(pick(data, widget.source));   // ./pointer.ts
//   ...
//   host.destroy();
//
// Security rules (the widget is hostile):
// * the frame URL comes from the server and names its frames origin, never this page's
//   (docs/web.md): the app's CSP allows frames from there only;
// * the iframe is `sandbox="allow-scripts"`, never `allow-same-origin`: the widget's
//   origin is "null", so it cannot touch this page, its cookies or its storage;
// * the handshake accepts a message only when `event.source` is this iframe's window
//   (never by origin: every sandboxed widget's origin is "null"); after that, only the
//   private MessagePort carries messages;
// * everything the widget sends is checked (type, fields, sizes) and rate-limited.
//
// Libraries once per browser (docs/widgets.md): a sandboxed frame caches nothing, so a
// widget page that uses VisualBox's libraries asks its host for them ("libraries",
// once per document). The host fetches each `/lib/<name>?v=<hash>` once per page from
// this app's own origin (the browser caches those URLs for a year) and answers with
// the texts, which the SDK evaluates in the frame. The widget gets nothing it could
// not load itself: only files of `/lib/` by a plain name, as text.
//
// History (docs/widgets.md): the host tells the widget the dashboard's time range
// (`range` in its updates) and answers `{type: "history", id, points, from?, to?}` with
// the recorded series of the widget's own source, fetched by the page (the `history`
// option; a frame never reaches the network). At most 4 requests wait at a time.
//
// Paint fast (docs/widgets.md): a boot page names its libraries in its hello, so the
// host sends them right after the port, and the first update (theme, config and the
// last-known data) goes with the port, not an animation frame later.

export type LogLevel = "info" | "warn" | "error";

export interface WidgetLog {
  level: LogLevel;
  message: string;
}

export interface WidgetHostEvents {
  /** The widget's SDK connected (again after each reload of the frame). */
  ready: void;
  /** `visualbox.log(...)` or an uncaught error in the widget. */
  log: WidgetLog;
  /** The widget asked for this height, in CSS pixels (`visualbox.resize`). */
  resize: number;
  /** Something went wrong on the host side: a refused message, data that cannot be sent. */
  error: string;
}

export type WidgetTheme = "light" | "dark";

/**
 * The replay of a recorded range, as the widget's SDK is told it: the range, the
 * recorded time `at` at wall-clock time `wall`, the speed, whether it plays, and a counter
 * that changes at each start or seek (the widget then starts its drawing afresh).
 */
export interface WidgetReplay {
  from: number;
  to: number;
  at: number;
  /** The wall-clock time (`Date.now()`) at which the replay was at `at`. */
  wall: number;
  seek: number;
  speed: number;
  playing: boolean;
}

/** The dashboard's time range as a widget sees it (`visualbox.range`). */
export type WidgetRange =
  | { live: true; from: null; to: null; replay?: WidgetReplay }
  | { live: false; from: number; to: number };

/** What a widget asks of its source's history (times in ms since the epoch). */
export interface WidgetHistoryRequest {
  points: number;
  from?: number;
  to?: number;
}

/** What a widget gets back: the history API's answer, without its instance and pointer. */
export interface WidgetHistory {
  start: number;
  end: number;
  level: string;
  step_ms: number;
  points: [number, unknown][];
  bands: [number, number, number][];
  last: [number, unknown] | null;
}

export interface WidgetHostOptions {
  /** The iframe's accessible name. */
  title?: string;
  /** The page's theme, which the widget may follow (`visualbox.theme`); default light. */
  theme?: WidgetTheme;
  /** Widget messages accepted per second; the rest are dropped (default 50). */
  maxMessagesPerSecond?: number;
  /** Reads the history of the widget's own source; without it, a request is refused. */
  history?: (request: WidgetHistoryRequest) => Promise<WidgetHistory>;
}

export const MAX_LOG_CHARS = 4000;
export const MAX_HEIGHT = 10_000;
const HELLOS_PER_MINUTE = 30;

export const MAX_LIBRARIES = 16;
export const MAX_HISTORY_POINTS = 10_000;
export const MAX_HISTORY_WAITING = 4;
const LIBRARY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(js|css)$/;
const LIBRARY_VERSION = /^[0-9a-f]{16}$/;

export type WidgetMessage =
  | { type: "ready" }
  | { type: "libraries"; names: [string, string][] }
  | { type: "log"; level: LogLevel; message: string }
  | { type: "resize"; height: number }
  | ({ type: "history"; id: number } & WidgetHistoryRequest);

const isTime = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** `[[name, version], ...]` of libraries a widget asks for, checked; `null` if not that. */
export function parseLibraryNames(names: unknown): [string, string][] | null {
  if (!Array.isArray(names) || names.length > MAX_LIBRARIES) return null;
  const checked: [string, string][] = [];
  for (const entry of names as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2) return null;
    const [name, version] = entry as unknown[];
    if (typeof name !== "string" || !LIBRARY_NAME.test(name)) return null;
    if (typeof version !== "string" || !LIBRARY_VERSION.test(version)) return null;
    checked.push([name, version]);
  }
  return checked;
}

/** A message from a widget, checked; `null` when it is not one we accept. */
export function parseWidgetMessage(data: unknown): WidgetMessage | null {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return null;
  const message = data as Record<string, unknown>;
  switch (message.type) {
    case "ready":
      return { type: "ready" };
    case "libraries": {
      const names = parseLibraryNames(message.names);
      return names === null ? null : { type: "libraries", names };
    }
    case "log": {
      const level = message.level;
      if (level !== "info" && level !== "warn" && level !== "error") return null;
      if (typeof message.message !== "string") return null;
      return { type: "log", level, message: message.message.slice(0, MAX_LOG_CHARS) };
    }
    case "history": {
      const { id, points, from, to } = message;
      if (typeof id !== "number" || !Number.isSafeInteger(id)) return null;
      if (typeof points !== "number" || !Number.isInteger(points)) return null;
      if (points < 1 || points > MAX_HISTORY_POINTS) return null;
      if ((from !== undefined && !isTime(from)) || (to !== undefined && !isTime(to))) return null;
      const request: { type: "history"; id: number } & WidgetHistoryRequest = { type: "history", id, points };
      if (from !== undefined) request.from = from;
      if (to !== undefined) request.to = to;
      return request;
    }
    case "resize": {
      const height = message.height;
      if (typeof height !== "number" || !Number.isFinite(height)) return null;
      return { type: "resize", height: Math.round(Math.min(Math.max(height, 0), MAX_HEIGHT)) };
    }
    default:
      return null;
  }
}

const libraries = new Map<string, Promise<string | null>>();

/** The text of library `name` at `version`, fetched once per page (and cached by the
 *  browser across pages); `null` if it cannot be had (the frame then loads it itself). */
export function libraryText(name: string, version: string): Promise<string | null> {
  const url = `/lib/${name}?v=${version}`;
  let text = libraries.get(url);
  if (text === undefined) {
    text = fetch(url, { credentials: "omit" })
      .then((answer) => (answer.ok ? answer.text() : null))
      .catch(() => null);
    libraries.set(url, text);
  }
  return text;
}

type Listener<K extends keyof WidgetHostEvents> = (value: WidgetHostEvents[K]) => void;

export class WidgetHost {
  readonly iframe: HTMLIFrameElement;
  private port: MessagePort | null = null;
  private config: unknown = undefined;
  private data: unknown = undefined;
  private hasConfig = false;
  private hasData = false;
  private theme: WidgetTheme;
  private dirtyTheme = true;
  private dirtyConfig = false;
  private dirtyData = false;
  private range: WidgetRange = { live: true, from: null, to: null };
  private dirtyRange = false;
  private readonly history: WidgetHostOptions["history"];
  private historyWaiting = 0;
  private frameRequest: number | null = null;
  private destroyed = false;
  private readonly maxPerSecond: number;
  private window = { start: 0, count: 0, warned: false };
  private hellos: number[] = [];
  private librariesAsked = false;
  private readonly listeners: { [K in keyof WidgetHostEvents]: Set<Listener<K>> } = {
    ready: new Set(),
    log: new Set(),
    resize: new Set(),
    error: new Set(),
  };

  constructor(container: HTMLElement, frameUrl: string, options: WidgetHostOptions = {}) {
    this.maxPerSecond = options.maxMessagesPerSecond ?? 50;
    this.theme = options.theme ?? "light";
    this.history = options.history;
    const iframe = document.createElement("iframe");
    // Attributes before `src` and before insertion: the first document is sandboxed too.
    iframe.setAttribute("sandbox", "allow-scripts");
    iframe.setAttribute("referrerpolicy", "no-referrer");
    iframe.setAttribute("allow", "");
    iframe.setAttribute("title", options.title ?? "Widget");
    iframe.src = frameUrl;
    this.iframe = iframe;
    window.addEventListener("message", this.onWindowMessage);
    container.appendChild(iframe);
  }

  /** Subscribe to an event; returns the function that unsubscribes. */
  on<K extends keyof WidgetHostEvents>(type: K, listener: Listener<K>): () => void {
    this.listeners[type].add(listener);
    return () => this.listeners[type].delete(listener);
  }

  /** The widget's config; reaches it at the next animation frame (the last value wins). */
  setConfig(config: Record<string, unknown>): void {
    this.config = config;
    this.hasConfig = this.dirtyConfig = true;
    this.schedule();
  }

  /** The widget's data (any JSON value, `null` included); `undefined` is ignored. */
  setData(value: unknown): void {
    if (value === undefined) return;
    this.data = value;
    this.hasData = this.dirtyData = true;
    this.schedule();
  }

  /** The page's theme; the widget gets it with its next update. */
  setTheme(theme: WidgetTheme): void {
    if (theme === this.theme) return;
    this.theme = theme;
    this.dirtyTheme = true;
    this.schedule();
  }

  /** The dashboard's time range; the widget gets it with its next update, before data. */
  setRange(range: WidgetRange): void {
    if (JSON.stringify(range) === JSON.stringify(this.range)) return;
    this.range = { ...range };
    this.dirtyRange = true;
    this.schedule();
  }

  /** Load another frame URL (for example a fresh ticket after the studio saved a file). */
  navigate(frameUrl: string): void {
    this.disconnect();
    this.iframe.src = frameUrl;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    window.removeEventListener("message", this.onWindowMessage);
    this.disconnect();
    this.iframe.remove();
    for (const set of Object.values(this.listeners)) set.clear();
  }

  // -- the handshake ---------------------------------------------------------------

  private readonly onWindowMessage = (event: MessageEvent): void => {
    // Only this iframe's window, whatever document it holds now; never trust origin.
    if (this.destroyed || event.source === null || event.source !== this.iframe.contentWindow) {
      return;
    }
    const message = event.data as { visualbox?: unknown; libraries?: unknown } | null;
    if (message === null || typeof message !== "object" || message.visualbox !== "hello") return;
    if (!this.allowHello(event.timeStamp)) return;
    this.connect();
    // A boot page names its libraries in its hello: they go on the new port at once,
    // without waiting for the frame to ask (one round trip less before the first paint).
    if (message.libraries !== undefined) {
      const names = parseLibraryNames(message.libraries);
      if (names !== null) void this.sendLibraries(names);
    }
  };

  /** A new document in the frame (first load or reload): a new private channel. */
  private connect(): void {
    this.disconnect();
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.librariesAsked = false;
    this.port.onmessage = (event: MessageEvent) => this.onPortMessage(event.data);
    this.iframe.contentWindow?.postMessage({ visualbox: "connect" }, "*", [channel.port2]);
    // The new document knows nothing yet: send everything we have, now (the last-known
    // data included: it is painted as soon as the widget's scripts have run).
    this.dirtyTheme = true;
    this.dirtyRange = true;
    this.historyWaiting = 0;
    this.dirtyConfig = this.hasConfig;
    this.dirtyData = this.hasData;
    this.flush();
  }

  private disconnect(): void {
    if (this.frameRequest !== null) cancelAnimationFrame(this.frameRequest);
    this.frameRequest = null;
    this.port?.close();
    this.port = null;
  }

  private allowHello(now: number): boolean {
    this.hellos = this.hellos.filter((t) => now - t < 60_000);
    if (this.hellos.length >= HELLOS_PER_MINUTE) {
      this.emit("error", "The widget reloads too often; its messages are ignored for a while.");
      return false;
    }
    this.hellos.push(now);
    return true;
  }

  // -- host -> widget: at most one update per animation frame ----------------------

  private schedule(): void {
    if (this.port === null || this.frameRequest !== null || this.destroyed) return;
    this.frameRequest = requestAnimationFrame(() => {
      this.frameRequest = null;
      this.flush();
    });
  }

  private flush(): void {
    const dirty = this.dirtyTheme || this.dirtyConfig || this.dirtyRange || this.dirtyData;
    if (this.port === null || !dirty) return;
    const update: Record<string, unknown> = { type: "update" };
    if (this.dirtyTheme) update.theme = this.theme;
    if (this.dirtyConfig) update.config = this.config;
    if (this.dirtyRange) update.range = this.range;
    if (this.dirtyData) update.data = this.data;
    this.dirtyTheme = this.dirtyConfig = this.dirtyRange = this.dirtyData = false;
    try {
      this.port.postMessage(update);
    } catch {
      // A value the structured clone refuses (a reactive proxy, a function...): send its
      // JSON form, which is what the widget would get from the server anyway.
      try {
        this.port.postMessage(JSON.parse(JSON.stringify(update)));
      } catch (error) {
        this.emit("error", `Cannot send this value to the widget: ${String(error)}`);
      }
    }
  }

  // -- widget -> host ---------------------------------------------------------------

  private onPortMessage(data: unknown): void {
    if (!this.withinRate()) return;
    const message = parseWidgetMessage(data);
    if (message === null) {
      this.emit("error", "The widget sent a message that is not understood; it was ignored.");
      return;
    }
    if (message.type === "ready") this.emit("ready", undefined);
    else if (message.type === "libraries") void this.sendLibraries(message.names);
    else if (message.type === "history") void this.sendHistory(message);
    else if (message.type === "log") {
      this.emit("log", { level: message.level, message: message.message });
    }
    else this.emit("resize", message.height);
  }

  /** Answer a document's (one) request for libraries on the port it came through. */
  private async sendLibraries(names: [string, string][]): Promise<void> {
    const port = this.port;
    if (this.librariesAsked || port === null) return;
    this.librariesAsked = true;
    const texts = await Promise.all(names.map(([name, version]) => libraryText(name, version)));
    if (this.port !== port) return; // the frame has another document now
    const files: Record<string, string> = {};
    names.forEach(([name], index) => {
      const text = texts[index];
      if (typeof text === "string") files[name] = text;
    });
    port.postMessage({ type: "libraries", files });
  }

  /** Answer one history request on the port it came through (its id, a result or words). */
  private async sendHistory(request: { id: number } & WidgetHistoryRequest): Promise<void> {
    const port = this.port;
    if (port === null) return;
    const answer = (body: Record<string, unknown>) => {
      if (this.port === port) port.postMessage({ type: "history", id: request.id, ...body });
    };
    if (!this.history) {
      answer({ error: "There is no recorded history here (only on a dashboard)." });
      return;
    }
    if (this.historyWaiting >= MAX_HISTORY_WAITING) {
      answer({ error: `At most ${MAX_HISTORY_WAITING} history requests may wait at a time.` });
      return;
    }
    this.historyWaiting += 1;
    try {
      const { points, from, to } = request;
      const got = await this.history({ points, from, to });
      const result: WidgetHistory = {
        start: got.start,
        end: got.end,
        level: got.level,
        step_ms: got.step_ms,
        points: got.points,
        bands: got.bands,
        last: got.last,
      };
      answer({ result });
    } catch (error) {
      answer({ error: error instanceof Error ? error.message : String(error) });
    } finally {
      if (this.port === port) this.historyWaiting -= 1;
    }
  }

  private withinRate(): boolean {
    const now = performance.now();
    if (now - this.window.start >= 1000) this.window = { start: now, count: 0, warned: false };
    this.window.count += 1;
    if (this.window.count <= this.maxPerSecond) return true;
    if (!this.window.warned) {
      this.window.warned = true;
      this.emit("error", "The widget sends too many messages; some were dropped.");
    }
    return false;
  }

  private emit<K extends keyof WidgetHostEvents>(type: K, value: WidgetHostEvents[K]): void {
    for (const listener of [...this.listeners[type]]) {
      try {
        listener(value);
      } catch (error) {
        // A broken listener must not break the others or the channel.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
