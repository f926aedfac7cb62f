// The typed calls of the module studio: working copies (docs/api/modules.md) and
// their published versions (docs/api/registry.md).
import { type FieldProblem, api, send } from "../api";

export type ModuleKind = "integration" | "widget";
export type Runtime = "python" | "node" | "go";

export interface Module {
  id: string;
  name: string;
  kind: ModuleKind;
  runtime: Runtime | null;
  description: string;
  tags: string[];
  cover: string | null;
  owner_id: string;
  forked_from: { module_id: string; version: string } | null;
  latest_version: string | null;
  created_at: string;
  updated_at: string;
}

export interface FileEntry {
  path: string;
  size: number;
  sha256: string | null;
  is_folder: boolean;
}

export interface Problem {
  file: string;
  field: string;
  reason: string;
}

export interface Check {
  ok: boolean;
  problems: Problem[];
}

export interface VersionSummary {
  version: string;
  yanked: boolean;
  created_at: string;
  changelog: string;
  /** Withdrawn for good: its files are gone; `withdrawn_reason` says why. */
  withdrawn: boolean;
  withdrawn_reason: string | null;
  withdrawn_at: string | null;
}

/** The dashboards that use a module (or depend on one of its versions). */
export interface ModuleUsage {
  dashboards: number;
  own_dashboards: number;
  other_users: number;
}

export interface RegistryPage {
  id: string;
  latest_version: string | null;
  versions: VersionSummary[];
}

export interface ModuleChanges {
  name?: string;
  description?: string | null;
  tags?: string[];
  cover?: string | null;
}

export type { FieldProblem };

const enc = encodeURIComponent;
const one = (id: string) => `/api/modules/${enc(id)}`;
/** A module path in a URL: each segment encoded, the slashes kept. */
const filePath = (id: string, path: string) => `${one(id)}/files/${path.split("/").map(enc).join("/")}`;

export const modulesApi = {
  list: (kind?: ModuleKind) => api.get<Module[]>("/api/modules", { kind }),
  create: (body: { name: string; kind: ModuleKind; runtime?: Runtime; template: boolean }) =>
    api.post<Module>("/api/modules", body),
  get: (id: string) => api.get<Module>(one(id)),
  update: (id: string, changes: ModuleChanges) => api.patch<Module>(one(id), changes),
  /** Delete; `confirm` is needed while dashboards use it (409 `in_use` otherwise). */
  remove: (id: string, confirm = false) => api.delete(confirm ? `${one(id)}?confirm=true` : one(id)),
  usage: (id: string, version?: string) =>
    api.get<ModuleUsage>(`${one(id)}/usage`, version ? { version } : undefined),

  files: (id: string) => api.get<FileEntry[]>(`${one(id)}/files`),
  /** The raw bytes of one file. */
  readFile: async (id: string, path: string): Promise<ArrayBuffer> =>
    (await send("GET", filePath(id, path), { headers: { Accept: "*/*" } })).arrayBuffer(),
  writeFile: async (id: string, path: string, content: BodyInit): Promise<FileEntry> =>
    (await send("PUT", filePath(id, path), {
      raw: content,
      headers: { "Content-Type": "application/octet-stream" },
    })).json() as Promise<FileEntry>,
  deletePath: (id: string, path: string) => send("DELETE", filePath(id, path)).then(() => undefined),
  makeFolder: (id: string, path: string) => api.post<FileEntry>(`${one(id)}/folders`, { path }),
  rename: (id: string, from: string, to: string) =>
    api.post<FileEntry[]>(`${one(id)}/rename`, { from, to }),

  importArchive: async (id: string, zip: Blob): Promise<FileEntry[]> =>
    (await send("PUT", `${one(id)}/archive`, {
      raw: zip,
      headers: { "Content-Type": "application/zip" },
    })).json() as Promise<FileEntry[]>,
  /** Where the browser downloads the working copy as a ZIP. */
  archiveUrl: (id: string) => `${one(id)}/archive`,
  check: (id: string) => api.get<Check>(`${one(id)}/check`),
  frame: (id: string) => api.post<{ url: string }>(`${one(id)}/frame`),

  publish: (id: string, version: string, changelog: string) =>
    api.post<VersionSummary>(`${one(id)}/versions`, { version, changelog }),
  registryPage: (id: string) => api.get<RegistryPage>(`/api/registry/modules/${enc(id)}`),
  yank: (id: string, version: string) =>
    api.post(`/api/registry/modules/${enc(id)}/versions/${enc(version)}/yank`),
  withdraw: (id: string, version: string, reason: string, confirm: boolean) =>
    api.post<VersionSummary>(`/api/registry/modules/${enc(id)}/versions/${enc(version)}/withdraw`, {
      reason,
      confirm,
    }),
  fork: (id: string, body: { version?: string; name?: string } = {}) =>
    api.post<Module>(`/api/registry/modules/${enc(id)}/fork`, body),
};
