// One running action of a page (a form submit, a delete): busy flag, the error it
// ended with, and the reasons by field for forms.
import { computed, ref } from "vue";

import { ApiError } from "./api";

export function useAction() {
  const busy = ref(false);
  const error = ref<unknown>(null);
  const fields = computed<Record<string, string>>(() =>
    error.value instanceof ApiError ? error.value.fieldMap() : {},
  );

  /** Run `task`; resolves with its result, or undefined when it failed (see `error`). */
  async function run<T>(task: () => Promise<T>): Promise<T | undefined> {
    busy.value = true;
    error.value = null;
    try {
      return await task();
    } catch (caught) {
      error.value = caught;
      return undefined;
    } finally {
      busy.value = false;
    }
  }

  function reset(): void {
    error.value = null;
  }

  return { busy, error, fields, run, reset };
}
