// The signed-in user's dashboards as the list page handles them.
import { client, ok } from "../api";
import type { DashboardExport, DashboardSummary } from "../generated/api";

export type { DashboardSummary };

const one = (d: DashboardSummary) => ({ params: { path: { dashboard_id: d.id } } });

export const dashboards = {
  list: () => ok(client.GET("/api/dashboards")),
  create: (name: string, teamId: string | null = null) =>
    ok(client.POST("/api/dashboards", { body: { name, team_id: teamId } })),
  rename: (d: DashboardSummary, name: string) =>
    ok(client.PATCH("/api/dashboards/{dashboard_id}", { ...one(d), body: { revision: d.revision, name } })),
  duplicate: (d: DashboardSummary) => ok(client.POST("/api/dashboards/{dashboard_id}/duplicate", one(d))),
  remove: (d: DashboardSummary) => ok(client.DELETE("/api/dashboards/{dashboard_id}", one(d))),
  exportOf: (d: DashboardSummary) => ok(client.GET("/api/dashboards/{dashboard_id}/export", one(d))),
  /** A file the user picked: the server checks it (422 names what is wrong). */
  importFrom: (document: unknown) =>
    ok(client.POST("/api/dashboards/import", { body: document as DashboardExport })),
  /** A new dashboard from a sample of built-in modules (docs/builtin.md). */
  fromSample: (name: string) =>
    ok(client.POST("/api/dashboards/samples/{name}", { params: { path: { name } } })),
};

/** The live sample: a simulated device shown by the built-in widgets. */
export const LIVE_SAMPLE = "live-device";

/** Only what the list shows (the API answers the whole dashboard to some calls). */
export function summary(d: DashboardSummary): DashboardSummary {
  const { id, name, revision, created_at, updated_at, team_id, team_name, role } = d;
  return { id, name, revision, public: d.public, listed: d.listed, created_at, updated_at, team_id, team_name, role };
}

/** A file name for an export: "Plant floor" → "plant-floor.visualbox.json". */
export function exportFileName(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[^\w\s-]/g, "")
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, "-");
  return `${slug || "dashboard"}.visualbox.json`;
}
