// Typed calls of the dashboard builder, the public view and the module explorer
// (docs/api/dashboards.md, sharing.md, registry.md, modules.md). The shapes are the
// server's, generated from its OpenAPI document (src/generated/api.ts).
import { client, ok, send } from "../api";
import { type ConfigField, parseSchema } from "../forms/config";
import type { Shape } from "./shapes";
import type {
  DashboardPatch,
  DashboardPublic,
  IntegrationChange,
  IntegrationInstance,
  ModulePublic,
  SearchItem,
  paths,
} from "../generated/api";

export type {
  DashboardSettingsPublic,
  IntegrationInstance,
  WidgetInstance,
  IntegrationPublic,
  ModulePublic,
  PublicDashboard,
  RegistryModulePublic,
  SearchItem,
  SearchPage,
  SharingPublic,
  ShadowPublic,
  VariablePublic,
  VersionPublic,
  VersionSummary,
  WidgetPublic,
} from "../generated/api";
export type { ConfigField };
export type { ConfigValues } from "../forms/config";

/** The whole dashboard as its owner sees it: its summary and its content. */
export type Dashboard = DashboardPublic;
export type ModuleKind = ModulePublic["kind"];
export type Runtime = NonNullable<ModulePublic["runtime"]>;
/** The parts of a dashboard a patch replaces (the revision is added by `patch`). */
export type DashboardParts = Omit<DashboardPatch, "revision">;
export type SearchQuery = NonNullable<paths["/api/registry/search"]["get"]["parameters"]["query"]>;

/** An item as a save sends it: without the read-only `frame` and `withdrawn` of answers
 *  (the server refuses them). */
function writable<T extends object>(item: T): T {
  const { frame: _frame, withdrawn: _withdrawn, ...rest } = item as T & { frame?: unknown; withdrawn?: unknown };
  return rest as T;
}

const dash = (id: string) => ({ dashboard_id: id });
const reg = (id: string) => ({ module_id: id });

const PREFETCH_FRESH_MS = 5000;
let prefetched: { id: string; at: number; answer: Promise<Dashboard> } | null = null;

/** Start loading dashboard `id` before its page is ready (the router calls it while the
 *  session is checked); the page's first load takes it if it is still fresh. */
export function prefetchDashboard(id: string): void {
  const answer = ok(client.GET("/api/dashboards/{dashboard_id}", { params: { path: dash(id) } }));
  answer.catch(() => undefined); // the page's own load reports errors
  prefetched = { id, at: Date.now(), answer };
}

/** The prefetched answer for `id`, once, if it is fresh. */
export function takePrefetched(id: string): Promise<Dashboard> | null {
  const taken = prefetched;
  prefetched = null;
  return taken && taken.id === id && Date.now() - taken.at < PREFETCH_FRESH_MS ? taken.answer : null;
}

export const dashboardApi = {
  get: (id: string) => ok(client.GET("/api/dashboards/{dashboard_id}", { params: { path: dash(id) } })),
  patch: (id: string, revision: number, parts: DashboardParts) =>
    ok(
      client.PATCH("/api/dashboards/{dashboard_id}", {
        params: { path: dash(id) },
        body: {
          revision,
          ...parts,
          integrations: parts.integrations?.map(writable),
          widgets: parts.widgets?.map(writable),
        },
      }),
    ),
  addIntegration: (id: string, revision: number, instance: IntegrationInstance) =>
    ok(
      client.POST("/api/dashboards/{dashboard_id}/integrations", {
        params: { path: dash(id) },
        body: { revision, instance },
      }),
    ),
  changeIntegration: (
    id: string,
    revision: number,
    instance: string,
    change: Omit<IntegrationChange, "revision">,
  ) =>
    ok(
      client.PATCH("/api/dashboards/{dashboard_id}/integrations/{instance_id}", {
        params: { path: { dashboard_id: id, instance_id: instance } },
        body: { revision, ...change },
      }),
    ),
  removeIntegration: (id: string, revision: number, instance: string) =>
    ok(
      client.DELETE("/api/dashboards/{dashboard_id}/integrations/{instance_id}", {
        params: { path: { dashboard_id: id, instance_id: instance }, query: { revision } },
      }),
    ),
  sharing: (id: string) =>
    ok(client.GET("/api/dashboards/{dashboard_id}/sharing", { params: { path: dash(id) } })),
  share: (id: string, change: { public: boolean; listed?: boolean; embed_origins?: string[] }) =>
    ok(client.POST("/api/dashboards/{dashboard_id}/sharing", { params: { path: dash(id) }, body: change })),
  regenerate: (id: string) =>
    ok(client.POST("/api/dashboards/{dashboard_id}/sharing/regenerate", { params: { path: dash(id) } })),
  publicView: (token: string, embed = false) =>
    ok(client.GET("/api/public/dashboards/{token}", { params: { path: { token }, query: embed ? { embed } : {} } })),
};

export const registryApi = {
  search: (query: SearchQuery, signal?: AbortSignal) =>
    ok(client.GET("/api/registry/search", { params: { query }, signal })),
  module: (id: string) => ok(client.GET("/api/registry/modules/{module_id}", { params: { path: reg(id) } })),
  version: (id: string, version: string) =>
    ok(
      client.GET("/api/registry/modules/{module_id}/versions/{version}", {
        params: { path: { module_id: id, version } },
      }),
    ),
  frame: (id: string, version: string) =>
    ok(
      client.GET("/api/registry/modules/{module_id}/versions/{version}/frame", {
        params: { path: { module_id: id, version } },
      }),
    ),
  fork: (id: string, version?: string) =>
    ok(
      client.POST("/api/registry/modules/{module_id}/fork", {
        params: { path: reg(id) },
        body: version ? { version } : {},
      }),
    ),
  myModules: (kind?: ModuleKind) => ok(client.GET("/api/modules", { params: { query: { kind } } })),
  myModule: (id: string) => ok(client.GET("/api/modules/{module_id}", { params: { path: reg(id) } })),
  /** The working copy's config.json (an owner's module used as `working`). */
  workingConfig: async (id: string): Promise<ConfigField[]> => {
    const file = await send("GET", `/api/modules/${encodeURIComponent(id)}/files/config.json`);
    return parseSchema(await file.json());
  },
  /** The working copy's README.md, or "" when it has none. */
  workingReadme: async (id: string): Promise<string> => {
    try {
      const file = await send("GET", `/api/modules/${encodeURIComponent(id)}/files/README.md`, {
        headers: { Accept: "*/*" },
      });
      return await file.text();
    } catch {
      return "";
    }
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

const acceptsCache = new Map<string, Promise<Shape[]>>();

/** The data shapes a published widget version draws (its manifest's `accepts`; cached).
 *  A working copy (`working`) or a version that declares none: []. */
export function acceptsOf(moduleId: string, version: string): Promise<Shape[]> {
  if (version === "working") return Promise.resolve([]);
  const key = `${moduleId}@${version}`;
  let found = acceptsCache.get(key);
  if (!found) {
    found = registryApi.version(moduleId, version).then((v) => v.manifest.accepts ?? []);
    found.catch(() => acceptsCache.delete(key));
    acceptsCache.set(key, found);
  }
  return found;
}

/** A published widget with the shapes it draws (what "Fits this source" is chosen from). */
export interface WidgetChoice {
  item: SearchItem;
  accepts: Shape[];
}

/** The most used published widgets (at most `limit`) with what each draws. */
export async function widgetChoices(limit = 50): Promise<WidgetChoice[]> {
  const page = await registryApi.search({ kind: "widget", sort: "popularity", per_page: limit });
  const accepts = await Promise.all(
    page.items.map((item) => acceptsOf(item.id, "latest").catch((): Shape[] => [])),
  );
  return page.items.map((item, i) => ({ item, accepts: accepts[i] }));
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
