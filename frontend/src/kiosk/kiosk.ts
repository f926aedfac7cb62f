// Kiosk mode (docs/dashboards.md#kiosk): /kiosk?dashboards=ID,ID&shares=TOKEN&every=30s
// shows each dashboard in turn, full screen and without chrome, keeps the screen awake
// and never stops reconnecting (the live client, ../live.ts, retries forever with a
// back-off of at most 15 s).
import type { LocationQuery } from "vue-router";

export type KioskEntry = { dashboard: string } | { share: string };

export const DEFAULT_EVERY_MS = 30_000;
export const MIN_EVERY_MS = 2_000;

/** `30s`, `2m`, `1h` or a number of seconds, in ms (at least MIN_EVERY_MS); null if not one. */
export function parseEvery(text: string | null | undefined): number | null {
  if (text == null || text === "") return DEFAULT_EVERY_MS;
  const matched = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!matched) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[matched[2] ?? "s"] ?? 1000;
  return Math.max(MIN_EVERY_MS, Math.round(Number(matched[1]) * unit));
}

function list(value: LocationQuery[string]): string[] {
  const raw = Array.isArray(value) ? value.join(",") : (value ?? "");
  return raw.split(",").map((part) => part.trim()).filter(Boolean);
}

/** The dashboards (ids, which need sign-in) and public links (share tokens) to show. */
export function entriesOf(query: LocationQuery): KioskEntry[] {
  return [
    ...list(query.dashboards).map((dashboard) => ({ dashboard })),
    ...list(query.shares).map((share) => ({ share })),
  ];
}

/** Keep the screen on while the page is shown (the Screen Wake Lock API, where there is
 *  one); the browser drops the lock when the tab is hidden, so it is asked for again
 *  each time the page is visible. Returns the function that lets go. */
export function keepAwake(nav: Navigator = navigator, doc: Document = document): () => void {
  type Lock = { release(): Promise<void> };
  const api = (nav as Navigator & { wakeLock?: { request(type: "screen"): Promise<Lock> } }).wakeLock;
  if (!api) return () => undefined;
  let lock: Lock | null = null;
  let stopped = false;
  const request = () => {
    if (stopped || doc.visibilityState !== "visible") return;
    api.request("screen").then(
      (got) => {
        if (stopped) void got.release();
        else lock = got;
      },
      () => undefined, // refused (no user gesture yet, battery saver): try again when shown
    );
  };
  doc.addEventListener("visibilitychange", request);
  request();
  return () => {
    stopped = true;
    doc.removeEventListener("visibilitychange", request);
    void lock?.release().catch(() => undefined);
  };
}
