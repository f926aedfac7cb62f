// The dashboard being edited: loading, one save at a time with the revision it was
// based on, the layout saving itself (debounced), following the saves of other tabs
// and people as they happen (`refresh`), and the 409 when someone else saved in
// between: a save that says how to re-apply itself (`rebase`) is re-applied to the
// latest version unless it touches what the other save changed; any other is shown
// as a conflict (nothing is ever overwritten silently).
import { computed, ref } from "vue";

import { ApiError } from "../api";
import {
  type Dashboard,
  type DashboardParts,
  type WidgetInstance,
  type WidgetPublic,
  dashboardApi,
  takePrefetched,
} from "./api";

export type SaveState = "idle" | "pending" | "saving" | "saved" | "error";

const LAYOUT_DELAY_MS = 700;

export interface Placement {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** What the widget panel edits of a widget (its place is saved by the grid). */
export interface WidgetDraft {
  title: string | null;
  background: string | null;
  hide_until_data: boolean;
  source: string | null;
  config: Record<string, unknown>;
}

export function draftOf(widget: WidgetPublic): WidgetDraft {
  const { title, background, hide_until_data, source, config } = widget;
  return { title: title ?? null, background: background ?? null, hide_until_data, source: source ?? null, config };
}

/** Deep equality of JSON values (object key order does not matter). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left).filter((k) => left[k] !== undefined);
  if (keys.length !== Object.keys(right).filter((k) => right[k] !== undefined).length) return false;
  return keys.every((k) => sameValue(left[k], right[k]));
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
  const running = ref(0);

  async function load(): Promise<void> {
    loading.value = true;
    loadError.value = null;
    try {
      const early = takePrefetched(id);
      dashboard.value = (early ? await early.catch(() => null) : null) ?? (await dashboardApi.get(id));
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
   * Resolves with the saved dashboard. On a 409 (someone else saved first) the latest
   * version is loaded; `rebase(latest)` (if given) says whether this save still
   * applies to it: if so the task runs again (it must build its change from the
   * dashboard as it is by then), if not it resolves undefined and the caller shows
   * its own conflict. Without `rebase` a 409 sets `conflict` (the page offers a
   * reload). Other errors are thrown (forms show their fields).
   */
  function save(
    task: (revision: number) => Promise<Dashboard>,
    rebase?: (latest: Dashboard) => boolean,
  ): Promise<Dashboard | undefined> {
    const step = queue.then(async () => {
      if (conflict.value || !dashboard.value) return undefined;
      running.value += 1;
      saveState.value = "saving";
      try {
        for (let attempt = 0; ; attempt += 1) {
          try {
            const saved = await task(dashboard.value.revision);
            adopt(saved);
            saveError.value = null;
            saveState.value = layoutDirty ? "pending" : "saved";
            return saved;
          } catch (error) {
            if (!(error instanceof ApiError && error.status === 409)) throw error;
            if (!rebase || attempt >= 3) {
              conflict.value = error;
              saveState.value = "error";
              return undefined;
            }
            const latest = await dashboardApi.get(id);
            adopt(latest);
            if (!rebase(latest)) {
              saveState.value = layoutDirty ? "pending" : "saved";
              return undefined;
            }
          }
        }
      } catch (error) {
        saveState.value = "error";
        saveError.value = error;
        throw error;
      } finally {
        running.value -= 1;
      }
    });
    queue = step.catch(() => undefined);
    return step;
  }

  /**
   * Another tab or person saved `revision`: load it after the saves already queued
   * (a layout change not saved yet is kept) unless this tab already has it.
   */
  function refresh(revision: number): Promise<unknown> {
    queue = queue.then(async () => {
      const current = dashboard.value;
      if (!current || conflict.value || revision <= current.revision) return;
      try {
        const latest = await dashboardApi.get(id);
        if (latest.revision > (dashboard.value?.revision ?? 0)) adopt(latest);
      } catch {
        // Offline for a moment: the next message or save tries again.
      }
    });
    return queue;
  }

  function patch(parts: DashboardParts): Promise<Dashboard | undefined> {
    return save((revision) => dashboardApi.patch(id, revision, parts));
  }

  /**
   * Save the widgets list as `change` makes it from the current one; on a conflict
   * it is made again from the latest version (another tab's changes to other
   * widgets are kept) unless `stillApplies(latest)` says no.
   */
  function patchWidgets(
    change: (widgets: WidgetPublic[]) => WidgetInstance[],
    stillApplies: (latest: Dashboard) => boolean = () => true,
  ): Promise<Dashboard | undefined> {
    return save(
      (revision) => dashboardApi.patch(id, revision, { widgets: change(dashboard.value?.widgets ?? []) }),
      stillApplies,
    );
  }

  function saveLayoutNow(): Promise<unknown> {
    window.clearTimeout(layoutTimer);
    layoutTimer = undefined;
    if (!layoutDirty) return queue;
    let moved: Placement[] = [];
    return save(
      async (revision) => {
        layoutDirty = false;
        const widgets = dashboard.value?.widgets ?? [];
        moved = widgets.map(({ id: wid, x, y, w, h }) => ({ id: wid, x, y, w, h }));
        try {
          return await dashboardApi.patch(id, revision, { widgets });
        } catch (error) {
          layoutDirty = true; // not saved: the next change (or leaving) tries again
          throw error;
        }
      },
      (latest) => {
        // Someone else saved first: put this tab's placements on their version.
        const mine = new Map(moved.map((p) => [p.id, p]));
        for (const w of latest.widgets) {
          const p = mine.get(w.id);
          if (p) Object.assign(w, { x: p.x, y: p.y, w: p.w, h: p.h });
        }
        return true;
      },
    ).catch(() => undefined);
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

  const busy = computed(() => running.value > 0 || saveState.value === "saving");

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
    patchWidgets,
    refresh,
    place,
    saveLayoutNow,
    freshId,
    hasPendingLayout: () => layoutDirty,
  };
}

export type DashboardEditor = ReturnType<typeof useDashboardEditor>;
