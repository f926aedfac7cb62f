// Ask before something irreversible: `if (await confirmAction({...})) ...`.
// <ConfirmHost> (in App.vue) shows the question as a modal dialog.
import { shallowRef } from "vue";

export interface ConfirmRequest {
  title: string;
  message: string;
  /** Label of the confirming button ("Delete"). */
  confirmLabel?: string;
  /** Styles the confirming button as destructive. */
  danger?: boolean;
}

interface Pending extends ConfirmRequest {
  resolve: (answer: boolean) => void;
}

export const pendingConfirm = shallowRef<Pending | null>(null);

export function confirmAction(request: ConfirmRequest): Promise<boolean> {
  pendingConfirm.value?.resolve(false);
  return new Promise((resolve) => {
    pendingConfirm.value = { ...request, resolve };
  });
}

export function answerConfirm(answer: boolean): void {
  const pending = pendingConfirm.value;
  pendingConfirm.value = null;
  pending?.resolve(answer);
}
