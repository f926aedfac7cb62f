// The signed-in user, shared by every page: loaded once from GET /api/auth/session,
// updated by sign-in, sign-up, sign-out and account changes.
import { reactive, readonly } from "vue";
import type { Router } from "vue-router";

import { type Account, api, messageOf } from "./api";
import { toast } from "./toast";

interface SessionState {
  user: Account | null;
  /** True once the first GET /api/auth/session has answered. */
  loaded: boolean;
}

const state = reactive<SessionState>({ user: null, loaded: false });
let loading: Promise<Account | null> | null = null;

export const session = readonly(state);

/** Ask the server who is signed in (once; `force` asks again). */
export function loadSession(force = false): Promise<Account | null> {
  if (loading && !force) return loading;
  loading = api
    .get<{ user: Account | null }>("/api/auth/session")
    .then(({ user }) => {
      state.user = user;
      return user;
    })
    .catch((error: unknown) => {
      loading = null;
      throw error;
    })
    .finally(() => {
      state.loaded = true;
    });
  return loading;
}

function adopt(user: Account): Account {
  state.user = user;
  state.loaded = true;
  loading = Promise.resolve(user);
  return user;
}

export async function signIn(email: string, password: string): Promise<Account> {
  return adopt(await api.post<Account>("/api/auth/signin", { email, password }));
}

export async function signUp(name: string, email: string, password: string): Promise<Account> {
  return adopt(await api.post<Account>("/api/auth/signup", { name, email, password }));
}

export async function signOut(): Promise<void> {
  await api.post("/api/auth/signout");
  state.user = null;
  loading = Promise.resolve(null);
}

/** The "Sign out" buttons: sign out, then the sign-in page; a failure becomes a toast. */
export async function signOutAndLeave(router: Router): Promise<void> {
  try {
    await signOut();
    await router.push({ name: "signin" });
  } catch (error) {
    toast(messageOf(error), "error");
  }
}

/** Replace the cached account after a change (rename, verification). */
export function setUser(user: Account | null): void {
  state.user = user;
  loading = Promise.resolve(user);
}
