// The dashboard being edited: loading, one save at a time with the revision it was
// based on, the layout saving itself (debounced), and the 409 conflict when someone
// else saved in between (nothing is ever overwritten: the user reloads).
import { computed, ref } from "vue";

import { ApiError } from "../api";
import { type Dashboard, type DashboardParts, type WidgetPublic, dashboardApi } from "./api";

export type SaveState = "idle" | "pending" | "saving" | "saved" | "error";

const LAYOUT_DELAY_MS = 700;

export interface Placement {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export function useDashboardEditor(id: string) {
  const dashboard = ref<Dashboard | null>(null);
  const loadError = ref<unknown>(null);
  const loading = ref(true);
  const conflict = ref<ApiError | null>(null);
  const saveState = ref<SaveState>("idle");
  const saveError = ref<unknown>(null);
  let queue: Promise<unknown> = Promise.resolve();
  let layoutTimer: number | undefined;
  let layoutDirty = false;
  let running = 0;

  async function load(): Promise<void> {
    loading.value = true;
    loadError.value = null;
    try {
      dashboard.value = await dashboardApi.get(id);
      conflict.value = null;
      saveState.value = "idle";
      layoutDirty = false;
    } catch (error) {
      loadError.value = error;
    } finally {
      loading.value = false;
    }
  }

  /** Take a saved dashboard, keeping layout changes made since that save was sent. */
  function adopt(next: Dashboard): void {
    if (layoutDirty && dashboard.value) {
      const local = new Map(dashboard.value.widgets.map((w) => [w.id, w]));
      for (const w of next.widgets) {
        const mine = local.get(w.id);
        if (mine) Object.assign(w, { x: mine.x, y: mine.y, w: mine.w, h: mine.h });
      }
    }
    dashboard.value = next;
  }

  /**
   * Run one save after the ones already queued, with the revision current by then.
   * Resolves with the saved dashboard; a 409 sets `conflict` and resolves undefined;
   * other errors are thrown (forms show their fields).
   */
  function save(task: (revision: number) => Promise<Dashboard>): Promise<Dashboard | undefined> {
    const step = queue.then(async () => {
      if (conflict.value || !dashboard.value) return undefined;
      running += 1;
      saveState.value = "saving";
      try {
        const saved = await task(dashboard.value.revision);
        adopt(saved);
        saveError.value = null;
        saveState.value = layoutDirty ? "pending" : "saved";
        return saved;
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) {
          conflict.value = error;
          saveState.value = "error";
          return undefined;
        }
        saveState.value = "error";
        saveError.value = error;
        throw error;
      } finally {
        running -= 1;
      }
    });
    queue = step.catch(() => undefined);
    return step;
  }

  function patch(parts: DashboardParts): Promise<Dashboard | undefined> {
    return save((revision) => dashboardApi.patch(id, revision, parts));
  }

  function saveLayoutNow(): Promise<unknown> {
    window.clearTimeout(layoutTimer);
    layoutTimer = undefined;
    if (!layoutDirty) return queue;
    return save(async (revision) => {
      layoutDirty = false;
      try {
        return await dashboardApi.patch(id, revision, { widgets: dashboard.value?.widgets ?? [] });
      } catch (error) {
        layoutDirty = true; // not saved: the next change (or leaving) tries again
        throw error;
      }
    }).catch(() => undefined);
  }

  /** The grid moved or resized widgets: keep it locally and save a moment later. */
  function place(placements: Placement[]): void {
    const current = dashboard.value;
    if (!current) return;
    let changed = false;
    for (const p of placements) {
      const w = current.widgets.find((item) => item.id === p.id);
      if (w && (w.x !== p.x || w.y !== p.y || w.w !== p.w || w.h !== p.h)) {
        Object.assign(w, { x: p.x, y: p.y, w: p.w, h: p.h });
        changed = true;
      }
    }
    if (!changed) return;
    layoutDirty = true;
    saveState.value = "pending";
    window.clearTimeout(layoutTimer);
    layoutTimer = window.setTimeout(() => void saveLayoutNow(), LAYOUT_DELAY_MS);
  }

  /** The widgets list with one widget replaced (or added, or removed with `null`). */
  function widgetsWith(widgetId: string, next: WidgetPublic | null): WidgetPublic[] {
    const list = dashboard.value?.widgets ?? [];
    if (next && !list.some((w) => w.id === widgetId)) return [...list, next];
    return list.flatMap((w) => (w.id === widgetId ? (next ? [next] : []) : [w]));
  }

  /** An id no widget or instance of this dashboard has yet ("i3", "w7"). */
  function freshId(prefix: "i" | "w"): string {
    const used = new Set([
      ...(dashboard.value?.integrations ?? []).map((i) => i.id),
      ...(dashboard.value?.widgets ?? []).map((w) => w.id),
    ]);
    let n = 1;
    while (used.has(`${prefix}${n}`)) n += 1;
    return `${prefix}${n}`;
  }

  const busy = computed(() => running > 0 || saveState.value === "saving");

  return {
    id,
    dashboard,
    loading,
    loadError,
    conflict,
    saveState,
    saveError,
    busy,
    load,
    save,
    patch,
    place,
    saveLayoutNow,
    widgetsWith,
    freshId,
    hasPendingLayout: () => layoutDirty,
  };
}

export type DashboardEditor = ReturnType<typeof useDashboardEditor>;
