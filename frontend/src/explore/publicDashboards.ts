// Public, listed dashboards (GET /api/public/dashboards): anyone may list them.
import { client, ok } from "../api";
import type { ExplorerItem, ExplorerPage } from "../generated/api";

export type { ExplorerItem, ExplorerPage };

export function listPublicDashboards(page: number, perPage: number): Promise<ExplorerPage> {
  return ok(client.GET("/api/public/dashboards", { params: { query: { page, per_page: perPage } } }));
}
