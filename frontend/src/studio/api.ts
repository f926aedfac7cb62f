// The typed calls of the module studio: working copies (docs/api/modules.md) and
// their published versions (docs/api/registry.md). The shapes are the server's,
// generated from its OpenAPI document (src/generated/api.ts).
import { type FieldProblem, client, ok, send } from "../api";
import type { ModuleKind, Runtime } from "../builder/api";
import type {
  CheckPublic,
  FilePublic,
  ModuleCreate,
  ModulePublic,
  ModuleUpdate,
  PreviousWorkingCopyPublic,
  ProblemPublic,
} from "../generated/api";

export type { ModuleKind, Runtime };
export type { ModuleUsage, RegistryModulePublic, VersionSummary } from "../generated/api";
export type Module = ModulePublic;
export type FileEntry = FilePublic;
export type Problem = ProblemPublic;
export type Check = CheckPublic;
export type ModuleChanges = ModuleUpdate;
export type PreviousWorkingCopy = PreviousWorkingCopyPublic;
export type { FieldProblem };

const enc = encodeURIComponent;
const one = (id: string) => ({ params: { path: { module_id: id } } });
const version = (id: string, v: string) => ({ params: { path: { module_id: id, version: v } } });
/** A module path in a URL: each segment encoded, the slashes kept. */
const filePath = (id: string, path: string) =>
  `/api/modules/${enc(id)}/files/${path.split("/").map(enc).join("/")}`;

export const modulesApi = {
  list: (kind?: ModuleKind) => ok(client.GET("/api/modules", { params: { query: { kind } } })),
  create: (body: ModuleCreate) => ok(client.POST("/api/modules", { body })),
  get: (id: string) => ok(client.GET("/api/modules/{module_id}", one(id))),
  update: (id: string, changes: ModuleChanges) =>
    ok(client.PATCH("/api/modules/{module_id}", { ...one(id), body: changes })),
  /** Delete; `confirm` is needed while dashboards use it (409 `in_use` otherwise). */
  remove: (id: string, confirm = false) =>
    ok(
      client.DELETE("/api/modules/{module_id}", {
        params: { path: { module_id: id }, query: confirm ? { confirm } : {} },
      }),
    ),
  usage: (id: string, version?: string) =>
    ok(
      client.GET("/api/modules/{module_id}/usage", {
        params: { path: { module_id: id }, query: { version } },
      }),
    ),

  files: (id: string) => ok(client.GET("/api/modules/{module_id}/files", one(id))),
  /** The raw bytes of one file. */
  readFile: async (id: string, path: string): Promise<ArrayBuffer> =>
    (await send("GET", filePath(id, path), { headers: { Accept: "*/*" } })).arrayBuffer(),
  writeFile: async (id: string, path: string, content: BodyInit): Promise<FileEntry> =>
    (await send("PUT", filePath(id, path), {
      body: content,
      headers: { "Content-Type": "application/octet-stream" },
    })).json() as Promise<FileEntry>,
  deletePath: (id: string, path: string) => send("DELETE", filePath(id, path)).then(() => undefined),
  makeFolder: (id: string, path: string) =>
    ok(client.POST("/api/modules/{module_id}/folders", { ...one(id), body: { path } })),
  rename: (id: string, from: string, to: string) =>
    ok(client.POST("/api/modules/{module_id}/rename", { ...one(id), body: { from, to } })),

  importArchive: async (id: string, zip: Blob): Promise<FileEntry[]> =>
    (await send("PUT", `/api/modules/${enc(id)}/archive`, {
      body: zip,
      headers: { "Content-Type": "application/zip" },
    })).json() as Promise<FileEntry[]>,
  /** The files, and the previous working copy an undo would bring back. */
  workingCopy: (id: string) => ok(client.GET("/api/modules/{module_id}/working-copy", one(id))),
  /** What a reset to `v` would change, remove and add (writes nothing). */
  compare: (id: string, v: string) =>
    ok(
      client.GET("/api/modules/{module_id}/working-copy/compare", {
        params: { path: { module_id: id }, query: { version: v } },
      }),
    ),
  /** Back to the working copy before the last replace (a second undo redoes). */
  undo: (id: string) => ok(client.POST("/api/modules/{module_id}/working-copy/undo", one(id))),
  /** Replace the working copy by a published version's files (undoable). */
  reset: (id: string, v: string) =>
    ok(client.POST("/api/modules/{module_id}/working-copy/reset", { ...one(id), body: { version: v } })),
  /** Where the browser downloads the working copy as a ZIP. */
  archiveUrl: (id: string) => `/api/modules/${enc(id)}/archive`,
  check: (id: string) => ok(client.GET("/api/modules/{module_id}/check", one(id))),
  frame: (id: string) => ok(client.POST("/api/modules/{module_id}/frame", one(id))),

  publish: (id: string, v: string, changelog: string) =>
    ok(client.POST("/api/modules/{module_id}/versions", { ...one(id), body: { version: v, changelog } })),
  registryPage: (id: string) => ok(client.GET("/api/registry/modules/{module_id}", one(id))),
  yank: (id: string, v: string) =>
    ok(client.POST("/api/registry/modules/{module_id}/versions/{version}/yank", version(id, v))),
  withdraw: (id: string, v: string, reason: string, confirm: boolean) =>
    ok(
      client.POST("/api/registry/modules/{module_id}/versions/{version}/withdraw", {
        ...version(id, v),
        body: { reason, confirm },
      }),
    ),
  fork: (id: string, body: { version?: string; name?: string } = {}) =>
    ok(client.POST("/api/registry/modules/{module_id}/fork", { ...one(id), body })),
};
