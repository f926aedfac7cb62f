// Ask before something irreversible: `if (await confirmAction({...})) ...`, or offer
// a third way out with chooseAction() ("Save" / "Discard" / "Keep editing").
// <ConfirmHost> (in App.vue) shows the question as a modal dialog.
import { shallowRef } from "vue";

export interface ConfirmRequest {
  title: string;
  message: string;
  /** Label of the confirming button ("Delete"). */
  confirmLabel?: string;
  /** Styles the confirming button as destructive. */
  danger?: boolean;
  /** Label of the button that backs out ("Cancel"). */
  cancelLabel?: string;
}

export interface ChoiceRequest extends ConfirmRequest {
  /** A second way forward between backing out and confirming ("Discard"). */
  alternativeLabel: string;
}

export type Choice = "confirm" | "alternative" | "cancel";

interface Pending extends ConfirmRequest {
  alternativeLabel?: string;
  resolve: (answer: Choice) => void;
}

export const pendingConfirm = shallowRef<Pending | null>(null);

function ask(request: ConfirmRequest & { alternativeLabel?: string }): Promise<Choice> {
  pendingConfirm.value?.resolve("cancel");
  return new Promise((resolve) => {
    pendingConfirm.value = { ...request, resolve };
  });
}

export async function confirmAction(request: ConfirmRequest): Promise<boolean> {
  return (await ask(request)) === "confirm";
}

/** Closing the dialog (Escape, the cancel button) answers "cancel". */
export function chooseAction(request: ChoiceRequest): Promise<Choice> {
  return ask(request);
}

export function answerConfirm(answer: Choice | boolean): void {
  const pending = pendingConfirm.value;
  pendingConfirm.value = null;
  pending?.resolve(answer === true ? "confirm" : answer === false ? "cancel" : answer);
}
