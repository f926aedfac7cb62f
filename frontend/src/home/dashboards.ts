// The signed-in user's dashboards as the list page handles them.
import { api } from "../api";

export interface DashboardSummary {
  id: string;
  name: string;
  revision: number;
  public: boolean;
  listed: boolean;
  created_at: string;
  updated_at: string;
}

const base = "/api/dashboards";
const one = (id: string) => `${base}/${encodeURIComponent(id)}`;

export const dashboards = {
  list: () => api.get<DashboardSummary[]>(base),
  create: (name: string) => api.post<DashboardSummary>(base, { name }),
  rename: (d: DashboardSummary, name: string) =>
    api.patch<DashboardSummary>(one(d.id), { revision: d.revision, name }),
  duplicate: (d: DashboardSummary) => api.post<DashboardSummary>(`${one(d.id)}/duplicate`),
  remove: (d: DashboardSummary) => api.delete(one(d.id)),
  exportOf: (d: DashboardSummary) => api.get<Record<string, unknown>>(`${one(d.id)}/export`),
  importFrom: (document: unknown) => api.post<DashboardSummary>(`${base}/import`, document),
  /** A new dashboard from a sample of built-in modules (docs/builtin.md). */
  fromSample: (name: string) =>
    api.post<DashboardSummary>(`${base}/samples/${encodeURIComponent(name)}`),
};

/** The live sample: a simulated device shown by the built-in widgets. */
export const LIVE_SAMPLE = "live-device";

/** Only what the list shows (the API answers the whole dashboard to some calls). */
export function summary(d: DashboardSummary): DashboardSummary {
  const { id, name, revision, created_at, updated_at } = d;
  return { id, name, revision, public: d.public, listed: d.listed, created_at, updated_at };
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
