// Public, listed dashboards (GET /api/public/dashboards): anyone may list them.
import { api } from "../api";

export interface PublicDashboard {
  name: string;
  token: string;
  url: string;
  created_at: string;
  updated_at: string;
}

export interface PublicPage {
  items: PublicDashboard[];
  total: number;
  page: number;
  per_page: number;
}

export function listPublicDashboards(page: number, perPage: number): Promise<PublicPage> {
  return api.get<PublicPage>("/api/public/dashboards", { page, per_page: perPage });
}
