// Unsaved edits are not lost by accident: Ctrl/Cmd-S anywhere on the page saves,
// leaving the page (another route, closing the tab, reloading) asks first.
import { type Ref, onBeforeUnmount, onMounted } from "vue";
import { onBeforeRouteLeave } from "vue-router";

import { confirmAction } from "../confirm";

export function useUnsavedGuard(dirty: Readonly<Ref<Set<string>>>, save: () => void): void {
  function onKeydown(event: KeyboardEvent): void {
    if (event.defaultPrevented) return; // the editor handled it (and saved) already
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    }
  }

  function onBeforeUnload(event: BeforeUnloadEvent): void {
    if (dirty.value.size) event.preventDefault();
  }

  onBeforeRouteLeave(() => {
    if (!dirty.value.size) return true;
    return confirmAction({
      title: "Leave the studio?",
      message: `Unsaved changes in ${[...dirty.value].join(", ")} will be lost.`,
      confirmLabel: "Leave without saving",
      danger: true,
    });
  });
  onMounted(() => {
    window.addEventListener("keydown", onKeydown);
    window.addEventListener("beforeunload", onBeforeUnload);
  });
  onBeforeUnmount(() => {
    window.removeEventListener("keydown", onKeydown);
    window.removeEventListener("beforeunload", onBeforeUnload);
  });
}
