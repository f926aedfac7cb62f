// The module open in the studio: its files and open tabs, the check, the published
// versions, the config.json the test form is built from, and the file operations,
// each followed by what depends on it. Like builder/editor.ts for a dashboard: the
// page (views/StudioView.vue) holds dialogs, confirmations and toasts; this owns the
// state. Operations throw (the page says why); background refreshes toast.
import { computed, ref, watch } from "vue";

import { useAction } from "../action";
import { ApiError, messageOf } from "../api";
import {
  type ConfigField,
  type ConfigValues,
  parseSchema,
  valuesToSend,
  withDefaults,
} from "../forms/config";
import { toast } from "../toast";
import {
  type Check,
  type FileEntry,
  type Module,
  type PreviousWorkingCopy,
  type VersionSummary,
  modulesApi,
} from "./api";
import { useOpenFiles } from "./openFiles";
import { rememberValues, rememberedValues } from "./remember";
import { buildTree } from "./tree";

/** The file opened first, when there is one. */
const ENTRY_FILES = ["index.html", "main.py", "index.js", "main.go", "README.md"];

/** What the page says about the whole working copy (studio/WorkingCopyNotice.vue). */
export interface WorkingCopyNotice {
  kind: "refused" | "replaced";
  title: string;
  /** One sentence each: the reasons of a refusal, or what changed. */
  lines: string[];
  /** Label of the button that takes the replace back ("Undo", "Redo"). */
  undoLabel?: string;
}

/** A change of the working copy seen this soon after one of this tab's is its own. */
const OWN_CHANGE_MS = 5000;

export interface StudioOptions {
  /** The saved files changed (the widget preview reloads). */
  onChange?: () => void;
  /** They changed outside this tab (`followOutside`). */
  onOutsideChange?: () => void;
}

export function useModuleStudio(id: () => string, options: StudioOptions = {}) {
  const module = ref<Module | null>(null);
  const files = ref<FileEntry[]>([]);
  const loading = useAction();
  const check = ref<Check | null>(null);
  const checking = ref(false);
  const versions = ref<VersionSummary[]>([]);
  const schema = ref<ConfigField[]>([]);
  const schemaNote = ref("");
  const testValues = ref<ConfigValues>({});
  const readme = ref<string | null>(null);
  /** The working copy before the last replace (import, reset, undo): what Undo brings back. */
  const previous = ref<PreviousWorkingCopy | null>(null);
  /** When this tab last changed the working copy (its own changes are not followed). */
  let ownChangeAt = 0;

  const openFiles = useOpenFiles(id);
  const tree = computed(() => buildTree(files.value));
  const filePaths = computed(() => files.value.filter((f) => !f.is_folder).map((f) => f.path));
  /** The test values as the console and the preview send them (no stored secrets). */
  const sentConfig = computed(() => valuesToSend(testValues.value));

  async function text(path: string): Promise<string | null> {
    if (!filePaths.value.includes(path)) return null;
    const bytes = await modulesApi.readFile(id(), path);
    return new TextDecoder().decode(bytes);
  }

  async function loadSchema(): Promise<void> {
    const raw = await text("config.json");
    let parsed: unknown = [];
    schemaNote.value = "";
    if (raw === null) schemaNote.value = "There is no config.json.";
    else {
      try {
        parsed = JSON.parse(raw);
      } catch {
        schemaNote.value = "config.json is not valid JSON; see the problems.";
      }
    }
    schema.value = parseSchema(parsed);
    const start = Object.keys(testValues.value).length ? testValues.value : rememberedValues(id());
    testValues.value = withDefaults(schema.value, start);
  }

  async function loadReadme(): Promise<void> {
    readme.value = await text("README.md");
  }

  async function runCheck(): Promise<void> {
    checking.value = true;
    try {
      check.value = await modulesApi.check(id());
    } catch (error) {
      toast(messageOf(error), "error");
    } finally {
      checking.value = false;
    }
  }

  async function loadVersions(): Promise<void> {
    try {
      versions.value = [...(await modulesApi.registryPage(id())).versions].reverse();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) versions.value = [];
      else toast(messageOf(error), "error");
    }
  }

  async function refreshFiles(): Promise<void> {
    files.value = await modulesApi.files(id());
  }

  async function reloadModule(): Promise<void> {
    module.value = await modulesApi.get(id());
  }

  async function load(): Promise<void> {
    await loading.run(async () => {
      const [m, copy] = await Promise.all([modulesApi.get(id()), modulesApi.workingCopy(id())]);
      module.value = m;
      files.value = copy.files;
      previous.value = copy.previous;
      await Promise.all([loadSchema(), loadReadme()]);
      const first = ENTRY_FILES.find((p) => filePaths.value.includes(p));
      if (first) await openFiles.open(first);
    });
    if (module.value) void Promise.all([runCheck(), loadVersions()]);
  }

  /** After the saved files changed (`null`: all of them): what depends on them follows. */
  async function afterChange(paths: string[] | null): Promise<void> {
    const all = paths === null;
    // First the module (its modified time: a change of this tab is not an outside one),
    // then the files: the README and the schema are read only if they exist.
    await Promise.all([reloadModule(), refreshFiles()]);
    const tasks: Promise<unknown>[] = [runCheck()];
    if (all || paths.includes("config.json")) tasks.push(loadSchema());
    if (all || paths.includes("README.md")) tasks.push(loadReadme());
    await Promise.all(tasks);
    options.onChange?.();
  }

  /**
   * Follow changes made outside this tab (`visualbox module dev` pushing on save,
   * another tab): while the page is visible, look every `everyMs` whether the working
   * copy changed; then the files, the check, the schema and the preview follow, and
   * clean tabs are read again (edited ones are left alone). Returns the stop function.
   */
  function followOutside(everyMs = 2000): () => void {
    let busy = false;
    const timer = setInterval(async () => {
      if (busy || document.visibilityState !== "visible" || !module.value) return;
      busy = true;
      try {
        const known = module.value.updated_at;
        const now = await modulesApi.get(id());
        if (now.updated_at === known || module.value?.updated_at !== known) return;
        if (Date.now() - ownChangeAt < OWN_CHANGE_MS) {
          module.value = now; // this tab's own change: nothing more to follow
        } else {
          module.value = now;
          await afterChange(null);
          await openFiles.refreshClean(filePaths.value);
          options.onOutsideChange?.();
        }
      } catch {
        // Offline for a moment, or the module was deleted: the page's own errors say so.
      } finally {
        busy = false;
      }
    }, everyMs);
    return () => clearInterval(timer);
  }

  /** Save one open file (throws when the server refuses it). */
  async function saveFile(path: string): Promise<void> {
    ownChangeAt = Date.now();
    await openFiles.save(path);
  }

  async function createFile(path: string, content = ""): Promise<void> {
    ownChangeAt = Date.now();
    if (filePaths.value.includes(path)) throw new Error(`${path} exists already.`);
    await modulesApi.writeFile(id(), path, content);
    await afterChange([path]);
  }

  async function makeFolder(path: string): Promise<void> {
    ownChangeAt = Date.now();
    await modulesApi.makeFolder(id(), path);
    await refreshFiles();
  }

  async function rename(from: string, to: string): Promise<void> {
    ownChangeAt = Date.now();
    if (to === from) return;
    files.value = await modulesApi.rename(id(), from, to);
    openFiles.moved(from, to);
    await afterChange([from, to]);
    if (module.value?.cover) await reloadModule();
  }

  async function remove(path: string): Promise<void> {
    ownChangeAt = Date.now();
    await modulesApi.deletePath(id(), path);
    openFiles.removed(path);
    await afterChange([path]);
  }

  /** After the whole working copy was replaced: every tab closes, everything follows. */
  async function replaced(answer: { files: FileEntry[]; previous: PreviousWorkingCopy | null }) {
    files.value = answer.files;
    previous.value = answer.previous;
    openFiles.closeAll();
    await afterChange(null);
    const first = ENTRY_FILES.find((p) => filePaths.value.includes(p));
    if (first) await openFiles.open(first);
    await reloadModule(); // the description and the cover follow the files
  }

  /** Replace every file with a ZIP's; the server refuses (and keeps everything) if the
   * ZIP is not a valid module. The replaced working copy is kept for `undo`. */
  async function importZip(zip: Blob): Promise<void> {
    ownChangeAt = Date.now();
    await modulesApi.importArchive(id(), zip);
    await replaced(await modulesApi.workingCopy(id()));
  }

  /** Back to the working copy before the last replace; calling it again redoes. */
  async function undo(): Promise<void> {
    ownChangeAt = Date.now();
    await replaced(await modulesApi.undo(id()));
  }

  /** Replace the working copy by the files of a published version (undoable). */
  async function resetTo(version: string): Promise<void> {
    ownChangeAt = Date.now();
    await replaced(await modulesApi.reset(id(), version));
  }

  watch(testValues, (values) => rememberValues(id(), schema.value, values));

  return {
    followOutside,
    module,
    files,
    loading,
    check,
    checking,
    versions,
    schema,
    schemaNote,
    testValues,
    readme,
    previous,
    openFiles,
    tree,
    filePaths,
    sentConfig,
    load,
    runCheck,
    loadVersions,
    reloadModule,
    afterChange,
    saveFile,
    createFile,
    makeFolder,
    rename,
    remove,
    importZip,
    undo,
    resetTo,
  };
}

export type ModuleStudio = ReturnType<typeof useModuleStudio>;
