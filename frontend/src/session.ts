// The signed-in user, shared by every page: loaded once from GET /api/auth/session,
// updated by sign-in, sign-up, sign-out and account changes.
import { reactive, readonly } from "vue";
import type { Router } from "vue-router";

import { client, messageOf, ok } from "./api";
import type { AccountPublic as Account, AccountCreated, TwoFactorChallenge } from "./generated/api";
import { toast } from "./toast";

interface SessionState {
  user: Account | null;
  /** True once the first GET /api/auth/session has answered. */
  loaded: boolean;
  /** An administrator who must set up two-factor sign-in before anything else. */
  twoFactorSetupRequired: boolean;
  /** The server sends mail; without it an administrator verifies accounts. */
  mail: boolean;
  /** The server has no account yet: the first sign-up becomes its administrator. */
  firstAccount: boolean;
  /** This account was created in this tab (greeted "Welcome", not "Welcome back"). */
  signedUp: boolean;
}

const state = reactive<SessionState>({
  user: null,
  loaded: false,
  twoFactorSetupRequired: false,
  mail: true,
  firstAccount: false,
  signedUp: false,
});
let loading: Promise<Account | null> | null = null;

export const session = readonly(state);

/** Ask the server who is signed in (once; `force` asks again). */
export function loadSession(force = false): Promise<Account | null> {
  if (loading && !force) return loading;
  loading = ok(client.GET("/api/auth/session"))
    .then(({ user, two_factor_setup_required, mail, first_account }) => {
      state.user = user;
      state.twoFactorSetupRequired = two_factor_setup_required;
      state.mail = mail;
      state.firstAccount = first_account;
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

/** A new session: ask again who is signed in (and whether two-factor set-up is due). */
async function adoptNew(user: Account): Promise<Account> {
  adopt(user);
  try {
    return (await loadSession(true)) ?? user;
  } catch {
    return user;
  }
}

/** The password step: the account, or a challenge to finish with `signInWithCode`. */
export async function signIn(email: string, password: string): Promise<Account | TwoFactorChallenge> {
  const answer = await ok(client.POST("/api/auth/signin", { body: { email, password } }));
  state.signedUp = false;
  return "two_factor_required" in answer ? answer : adoptNew(answer);
}

/** The second step of a two-factor sign-in: a code from the app or a recovery code. */
export async function signInWithCode(challenge: string, code: string): Promise<Account> {
  return adoptNew(await ok(client.POST("/api/auth/signin/2fa", { body: { challenge, code } })));
}

/** Create an account and sign it in; `message` says what comes next, in words. */
export async function signUp(name: string, email: string, password: string): Promise<AccountCreated> {
  const created = await ok(client.POST("/api/auth/signup", { body: { name, email, password } }));
  state.signedUp = true;
  state.firstAccount = false;
  await adoptNew(created);
  return created;
}

export async function signOut(): Promise<void> {
  await ok(client.POST("/api/auth/signout"));
  state.user = null;
  state.twoFactorSetupRequired = false;
  state.signedUp = false;
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

/** Two-factor sign-in was turned on or off: ask the server for the new state. */
export async function refreshSession(): Promise<void> {
  await loadSession(true).catch(() => undefined);
}
