// Typed calls of snapshots (docs/api/snapshots.md) and the download of a widget's
// series (docs/api/history.md: history.csv, history.json). The shapes are the server's.
import { client, ok, send } from "../api";
import type { PublicSnapshot } from "../generated/api";

export type { PublicSnapshot, SnapshotPublic } from "../generated/api";

const dash = (id: string) => ({ dashboard_id: id });

export const snapshotApi = {
  list: (id: string) => ok(client.GET("/api/dashboards/{dashboard_id}/snapshots", { params: { path: dash(id) } })),
  create: (id: string, range: { from: number; to: number }, name?: string) =>
    ok(
      client.POST("/api/dashboards/{dashboard_id}/snapshots", {
        params: { path: dash(id) },
        body: { from: range.from, to: range.to, ...(name ? { name } : {}) },
      }),
    ),
  remove: (id: string, snapshotId: string) =>
    ok(
      client.DELETE("/api/dashboards/{dashboard_id}/snapshots/{snapshot_id}", {
        params: { path: { dashboard_id: id, snapshot_id: snapshotId } },
      }),
    ),
  /** The answer's tuples ([t, value]) come back as arrays from openapi-fetch's types. */
  read: async (token: string): Promise<PublicSnapshot> =>
    (await ok(
      client.GET("/api/snapshots/{snapshot_token}", { params: { path: { snapshot_token: token } } }),
    )) as PublicSnapshot,
};

export const HOUR_MS = 3_600_000;

/** The last hour up to now: what a download covers when no range is given. */
export function lastHour(now = Date.now()): { from: number; to: number } {
  return { from: now - HOUR_MS, to: now };
}

/** A widget source `/i1/temperature` as its instance and pointer ("" is the whole
 *  output); null for no source. */
export function splitSource(source: string | null | undefined): { instance: string; pointer: string } | null {
  if (!source || !source.startsWith("/")) return null;
  const rest = source.slice(1);
  const slash = rest.indexOf("/");
  const first = slash < 0 ? rest : rest.slice(0, slash);
  const instance = first.replaceAll("~1", "/").replaceAll("~0", "~");
  return instance ? { instance, pointer: slash < 0 ? "" : rest.slice(slash) } : null;
}

/** Download the series of a widget's source over a range as a CSV or JSON file. */
export async function downloadSeries(
  dashboardId: string,
  source: string,
  format: "csv" | "json",
  range: { from: number; to: number } = lastHour(),
): Promise<void> {
  const parts = splitSource(source);
  if (!parts) throw new Error("This widget has no source, so there is no data to download.");
  const path = `/api/dashboards/${encodeURIComponent(dashboardId)}/history.${format}`;
  const answer = await send("GET", path, {
    query: { ...parts, from: String(range.from), to: String(range.to) },
    headers: { Accept: format === "csv" ? "text/csv" : "application/json" },
  });
  const blob = await answer.blob();
  const url = URL.createObjectURL(blob);
  const name = `${parts.instance}${parts.pointer.replaceAll("/", "-") || "-output"}.${format}`;
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
