// The files open in the studio's editor tabs: their saved text and their edits.
// Binary files open too, but only to be shown (their bytes are never rewritten).
import { computed, reactive, ref } from "vue";

import { modulesApi } from "./api";
import { decodeText, imageType } from "./languages";
import { movedPath } from "./tree";

export interface OpenFile {
  path: string;
  /** The text as saved on the server; null for a binary file. */
  saved: string | null;
  /** The text in the editor now. */
  text: string;
  size: number;
  /** For binary images: a data: URL of the bytes, for a preview (the CSP allows data: images). */
  imageUrl: string | null;
  /** Counts the times the file was read again after a change elsewhere (its editor restarts). */
  revision: number;
}

function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("The file cannot be read."));
    reader.readAsDataURL(blob);
  });
}

export function useOpenFiles(moduleId: () => string) {
  const tabs = reactive<OpenFile[]>([]);
  const active = ref<string | null>(null);
  const dirty = computed(() => new Set(tabs.filter((t) => t.saved !== null && t.text !== t.saved).map((t) => t.path)));
  const current = computed(() => tabs.find((t) => t.path === active.value) ?? null);

  function find(path: string): OpenFile | undefined {
    return tabs.find((t) => t.path === path);
  }

  /** Open `path` in a tab (reading it once) and make it the active tab. */
  async function open(path: string): Promise<OpenFile> {
    const found = find(path);
    if (found) {
      active.value = path;
      return found;
    }
    const bytes = await modulesApi.readFile(moduleId(), path);
    const text = decodeText(path, bytes);
    const type = text === null ? imageType(path) : null;
    const imageUrl = type ? await dataUrl(new Blob([bytes], { type })) : null;
    const tab: OpenFile = { path, saved: text, text: text ?? "", size: bytes.byteLength, imageUrl, revision: 0 };
    if (!find(path)) tabs.push(tab);
    active.value = path;
    return find(path)!;
  }

  function close(path: string): void {
    const index = tabs.findIndex((t) => t.path === path);
    if (index < 0) return;
    tabs.splice(index, 1);
    if (active.value === path) active.value = tabs[Math.min(index, tabs.length - 1)]?.path ?? null;
  }

  function closeAll(): void {
    for (const t of [...tabs]) close(t.path);
  }

  /** Save one tab's text (PUT); resolves when saved. */
  async function save(path: string): Promise<void> {
    const tab = find(path);
    if (!tab || tab.saved === null) return;
    const text = tab.text;
    const entry = await modulesApi.writeFile(moduleId(), path, text);
    tab.saved = text;
    tab.size = entry.size;
  }

  /** Follow a rename of a file or a folder. */
  function moved(from: string, to: string): void {
    for (const tab of tabs) {
      const next = movedPath(tab.path, from, to);
      if (next === null) continue;
      if (active.value === tab.path) active.value = next;
      tab.path = next;
    }
  }

  /** Close the tabs of a deleted file or folder. */
  function removed(path: string): void {
    for (const tab of [...tabs]) if (movedPath(tab.path, path, path) !== null) close(tab.path);
  }

  /** Read the clean tabs again (the files changed on the server); close those of
   *  files that are gone. Tabs with unsaved edits are left as they are. */
  async function refreshClean(paths: string[]): Promise<void> {
    for (const tab of [...tabs]) {
      if (tab.saved === null || tab.text !== tab.saved) continue;
      if (!paths.includes(tab.path)) {
        close(tab.path);
        continue;
      }
      const text = decodeText(tab.path, await modulesApi.readFile(moduleId(), tab.path));
      if (text !== null && tab.text === tab.saved && text !== tab.saved) {
        tab.saved = text;
        tab.text = text;
        tab.revision += 1;
      }
    }
  }

  /** Open tabs with unsaved edits under `path` (a file or a folder; "" for all). */
  function dirtyUnder(path: string): string[] {
    return [...dirty.value].filter((p) => !path || movedPath(p, path, path) !== null);
  }

  return { tabs, active, dirty, current, open, close, closeAll, save, moved, removed, dirtyUnder, find, refreshClean };
}
