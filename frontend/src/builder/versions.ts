// Typed calls of dashboard versions (docs/api/dashboards.md#versions): list, compare two,
// restore one as a new save. The shapes are the server's (src/generated/api.ts).
import { client, ok } from "../api";

export type {
  DashboardVersionCompare,
  DashboardVersionSummary,
  ItemChange,
  LayoutCell,
  VersionRestored,
} from "../generated/api";

const dash = (id: string) => ({ dashboard_id: id });

export const versionsApi = {
  list: (id: string, offset: number, limit: number) =>
    ok(
      client.GET("/api/dashboards/{dashboard_id}/versions", {
        params: { path: dash(id), query: { offset, limit } },
      }),
    ),
  compare: (id: string, before: number, after: number) =>
    ok(
      client.GET("/api/dashboards/{dashboard_id}/versions/compare", {
        params: { path: dash(id), query: { before, after } },
      }),
    ),
  restore: (id: string, number: number, revision: number) =>
    ok(
      client.POST("/api/dashboards/{dashboard_id}/versions/{number}/restore", {
        params: { path: { dashboard_id: id, number } },
        body: { revision },
      }),
    ),
};
