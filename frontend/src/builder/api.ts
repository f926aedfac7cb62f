// Typed calls of the dashboard builder, the public view and the module explorer
// (docs/api/dashboards.md, sharing.md, registry.md, modules.md).
import { api } from "../api";
import { type ConfigField, parseSchema } from "../forms/config";
import type { DashboardSummary } from "../home/dashboards";

export type { ConfigField };

export interface Shadow {
  opacity: number;
  radius: number;
}

export interface DashboardSettings {
  background: string | null;
  radius: number;
  shadow: Shadow;
}

export type ConfigValues = Record<string, unknown>;

export interface IntegrationInstance {
  id: string;
  module_id: string;
  version: string;
  label: string;
  config: ConfigValues;
  keep_running: boolean;
  /** Why its module or version was withdrawn (read-only; absent when it was not). */
  withdrawn?: string | null;
}

export interface WidgetInstance {
  id: string;
  module_id: string;
  version: string;
  x: number;
  y: number;
  w: number;
  h: number;
  config: ConfigValues;
  source: string | null;
  background: string | null;
  hide_until_data: boolean;
  title: string | null;
  /** The URL its sandboxed iframe loads (read-only; null when the module is gone). */
  frame?: string | null;
  /** Why its module or version was withdrawn (read-only; absent when it was not). */
  withdrawn?: string | null;
}

/** The whole dashboard: its summary (as the list shows it) and its content. */
export interface Dashboard extends DashboardSummary {
  settings: DashboardSettings;
  integrations: IntegrationInstance[];
  widgets: WidgetInstance[];
  share_url: string | null;
}

export interface DashboardPatch {
  name?: string;
  settings?: DashboardSettings;
  integrations?: IntegrationInstance[];
  widgets?: WidgetInstance[];
}

export interface IntegrationChange {
  label?: string;
  version?: string;
  config?: ConfigValues;
  keep_running?: boolean;
}

export interface Sharing {
  public: boolean;
  listed: boolean;
  token: string | null;
  url: string | null;
}

export interface PublicWidget extends Omit<WidgetInstance, "frame"> {
  frame: string | null;
}

export interface PublicDashboard {
  name: string;
  settings: DashboardSettings;
  integrations: { id: string; label: string }[];
  widgets: PublicWidget[];
  data: Record<string, unknown>;
  updated_at: string;
}

export type ModuleKind = "integration" | "widget";

export interface SearchItem {
  id: string;
  name: string;
  description: string | null;
  kind: ModuleKind;
  runtime: string | null;
  tags: string[];
  cover: string | null;
  owner_name: string;
  latest_version: string | null;
  published_at: string | null;
  forks: number;
  uses: number;
}

export interface SearchPage {
  items: SearchItem[];
  total: number;
  page: number;
  per_page: number;
}

export interface SearchQuery {
  q?: string;
  kind?: ModuleKind | "";
  runtime?: string;
  sort?: "relevance" | "popularity" | "recent";
  page?: number;
  per_page?: number;
}

export interface VersionSummary {
  version: string;
  yanked: boolean;
  created_at: string;
  changelog: string | null;
  /** Withdrawn for good: its files are gone; `withdrawn_reason` says why. */
  withdrawn: boolean;
  withdrawn_reason: string | null;
  withdrawn_at: string | null;
}

export interface RegistryModule extends SearchItem {
  versions: VersionSummary[];
  forked_from: { module_id: string; version: string } | null;
}

export interface ModuleVersion {
  module_id: string;
  version: string;
  yanked: boolean;
  created_at: string;
  changelog: string | null;
  runtime: string | null;
  readme: string;
  config_schema: unknown[];
  /** visualbox.json as published; `sample` is the module's example data, if any. */
  manifest?: { sample?: unknown };
}

export interface MyModule {
  id: string;
  name: string;
  kind: ModuleKind;
  runtime: string | null;
  description: string | null;
  tags: string[];
  cover: string | null;
  latest_version: string | null;
  updated_at: string;
}

const enc = encodeURIComponent;
const dash = (id: string) => `/api/dashboards/${enc(id)}`;
const reg = (id: string) => `/api/registry/modules/${enc(id)}`;

export const dashboardApi = {
  get: (id: string) => api.get<Dashboard>(dash(id)),
  patch: (id: string, revision: number, parts: DashboardPatch) =>
    api.patch<Dashboard>(dash(id), { revision, ...parts }),
  addIntegration: (id: string, revision: number, instance: Partial<IntegrationInstance>) =>
    api.post<Dashboard>(`${dash(id)}/integrations`, { revision, instance }),
  changeIntegration: (id: string, revision: number, instance: string, change: IntegrationChange) =>
    api.patch<Dashboard>(`${dash(id)}/integrations/${enc(instance)}`, { revision, ...change }),
  removeIntegration: (id: string, revision: number, instance: string) =>
    api.delete<Dashboard>(`${dash(id)}/integrations/${enc(instance)}?revision=${revision}`),
  sharing: (id: string) => api.get<Sharing>(`${dash(id)}/sharing`),
  share: (id: string, change: { public: boolean; listed?: boolean }) =>
    api.post<Sharing>(`${dash(id)}/sharing`, change),
  regenerate: (id: string) => api.post<Sharing>(`${dash(id)}/sharing/regenerate`),
  publicView: (token: string) => api.get<PublicDashboard>(`/api/public/dashboards/${enc(token)}`),
};

export const registryApi = {
  search: (query: SearchQuery, signal?: AbortSignal) =>
    api.get<SearchPage>("/api/registry/search", { ...query }, signal),
  module: (id: string) => api.get<RegistryModule>(reg(id)),
  version: (id: string, version: string) =>
    api.get<ModuleVersion>(`${reg(id)}/versions/${enc(version)}`),
  frame: (id: string, version: string) =>
    api.get<{ url: string }>(`${reg(id)}/versions/${enc(version)}/frame`),
  fork: (id: string, version?: string) =>
    api.post<MyModule>(`${reg(id)}/fork`, version ? { version } : {}),
  myModules: (kind?: ModuleKind) => api.get<MyModule[]>("/api/modules", kind ? { kind } : undefined),
  myModule: (id: string) => api.get<MyModule>(`/api/modules/${enc(id)}`),
  /** The working copy's config.json (an owner's module used as `working`). */
  workingConfig: async (id: string): Promise<ConfigField[]> => {
    return parseSchema(await api.get<unknown>(`/api/modules/${enc(id)}/files/config.json`));
  },
  workingReadme: async (id: string): Promise<string> => {
    const response = await fetch(`/api/modules/${enc(id)}/files/README.md`, {
      credentials: "same-origin",
    });
    return response.ok ? response.text() : "";
  },
};

const schemas = new Map<string, Promise<ConfigField[]>>();

/** The config.json of exactly this module version (cached; `working` is never cached). */
export function configSchema(moduleId: string, version: string): Promise<ConfigField[]> {
  if (version === "working") return registryApi.workingConfig(moduleId);
  const key = `${moduleId}@${version}`;
  let found = schemas.get(key);
  if (!found) {
    found = registryApi.version(moduleId, version).then((v) => parseSchema(v.config_schema));
    found.catch(() => schemas.delete(key));
    schemas.set(key, found);
  }
  return found;
}

/** Reasons by config field name from an API error (`integrations[0].config.level`, `config.level`). */
export function configErrors(fields: { field: string; reason: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const at = f.field.lastIndexOf("config.");
    if (at >= 0) out[f.field.slice(at + "config.".length)] = f.reason;
  }
  return out;
}
