// Short notices at the bottom of the screen ("Dashboard deleted", errors of
// background actions). `toast(message)` from anywhere; <ToastHost> shows them.
import { reactive } from "vue";

export type ToastKind = "info" | "success" | "error";

export interface Toast {
  id: number;
  kind: ToastKind;
  message: string;
}

export const toasts = reactive<Toast[]>([]);
let next = 1;

export function dismissToast(id: number): void {
  const index = toasts.findIndex((t) => t.id === id);
  if (index >= 0) toasts.splice(index, 1);
}

/** Show `message` for a few seconds (errors stay longer). */
export function toast(message: string, kind: ToastKind = "info"): number {
  const id = next++;
  toasts.push({ id, kind, message });
  window.setTimeout(() => dismissToast(id), kind === "error" ? 8000 : 4000);
  return id;
}
