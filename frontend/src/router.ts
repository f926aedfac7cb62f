// The pages of the web app and who may see them.
//   meta.guest     sign-in pages: a signed-in user goes on to `next` or home
//   meta.public    anyone (public view, explorer, mailed links)
//   meta.bare      no navigation rail (public view, snapshot)
//   meta.unverified  a signed-in but unverified user may open it
//   meta.admin     administrators only (others get the dashboards)
// A server without any account opens on the sign-up page (the first account).
// An administrator who must set up two-factor sign-in sees only /account.
// Every other page needs a verified user: signed-out users go to /signin?next=...,
// unverified ones to /verify?next=... (the "verify your email" notice).
import { createRouter, createWebHistory, type RouteLocationNormalized } from "vue-router";

import { prefetchDashboard } from "./builder/api";
import { safeNext } from "./next";
import { loadSession, session } from "./session";

declare module "vue-router" {
  interface RouteMeta {
    guest?: boolean;
    public?: boolean;
    bare?: boolean;
    unverified?: boolean;
    admin?: boolean;
    title?: string;
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/", name: "home", component: () => import("./views/HomeView.vue"), meta: { title: "Dashboards" } },
    { path: "/signin", name: "signin", component: () => import("./views/SignInView.vue"), meta: { guest: true, title: "Sign in" } },
    { path: "/signup", name: "signup", component: () => import("./views/SignUpView.vue"), meta: { guest: true, title: "Sign up" } },
    { path: "/forgot", name: "forgot", component: () => import("./views/ForgotView.vue"), meta: { guest: true, title: "Forgot password" } },
    { path: "/reset", name: "reset", component: () => import("./views/ResetView.vue"), meta: { public: true, title: "New password" } },
    { path: "/verify", name: "verify", component: () => import("./views/VerifyView.vue"), meta: { public: true, title: "Verify your email" } },
    { path: "/account", name: "account", component: () => import("./views/AccountView.vue"), meta: { unverified: true, title: "Account" } },
    { path: "/admin/users", name: "admin-users", component: () => import("./views/AdminUsersView.vue"), meta: { admin: true, title: "Users" } },
    { path: "/explore", name: "explore", component: () => import("./views/ExploreView.vue"), meta: { public: true, title: "Explore" } },
    { path: "/d/:id", name: "dashboard", component: () => import("./views/DashboardView.vue"), meta: { title: "Dashboard" } },
    { path: "/p/:token", name: "public", component: () => import("./views/PublicView.vue"), meta: { public: true, bare: true, title: "Dashboard" } },
    { path: "/embed/:token", name: "embed", component: () => import("./views/PublicView.vue"), props: { embed: true }, meta: { public: true, bare: true, title: "Dashboard" } },
    { path: "/kiosk", name: "kiosk", component: () => import("./kiosk/KioskView.vue"), meta: { public: true, bare: true, title: "Kiosk" } },
    { path: "/s/:token", name: "snapshot", component: () => import("./views/SnapshotView.vue"), meta: { public: true, bare: true, title: "Snapshot" } },
    { path: "/teams", name: "teams", component: () => import("./teams/TeamsView.vue"), meta: { title: "Teams" } },
    { path: "/teams/join", name: "team-join", component: () => import("./teams/JoinView.vue"), meta: { title: "Join a team" } },
    { path: "/modules", name: "modules", component: () => import("./views/ModulesView.vue"), meta: { title: "Modules" } },
    { path: "/modules/:id", name: "studio", component: () => import("./views/StudioView.vue"), meta: { title: "Module studio" } },
    { path: "/registry", name: "registry", component: () => import("./views/RegistryView.vue"), meta: { title: "Registry" } },
    { path: "/registry/:id", name: "registry-module", component: () => import("./views/RegistryModuleView.vue"), meta: { title: "Module" } },
    { path: "/:rest(.*)*", name: "not-found", component: () => import("./views/NotFoundView.vue"), meta: { public: true, title: "Not found" } },
  ],
});

/** The page to go on to from ?next= (a path of this app, never another origin). */
export function nextPath(route: RouteLocationNormalized, fallback = "/"): string {
  return safeNext(route.query.next, fallback);
}

router.beforeEach(async (to) => {
  // Fetch the page's code (and a dashboard's document) while the session is checked.
  for (const record of to.matched) {
    const component = record.components?.default;
    if (typeof component === "function") void (component as () => Promise<unknown>)().catch(() => undefined);
  }
  if (to.name === "dashboard") prefetchDashboard(String(to.params.id));
  if (to.meta.public) {
    // Anyone may see it; a signed-in user still gets the navigation (but the bare
    // public view of a dashboard never asks who is there).
    if (!to.meta.bare) loadSession().catch(() => undefined);
    return true;
  }
  let user;
  try {
    user = await loadSession();
  } catch {
    return true; // The server is unreachable: the page shows that error itself.
  }
  if (to.meta.guest) return user ? nextPath(to) : true;
  if (!user) {
    if (to.fullPath === "/") return { name: session.firstAccount ? "signup" : "signin" };
    return { name: "signin", query: { next: to.fullPath } };
  }
  if (!user.email_verified && !to.meta.unverified) {
    return { name: "verify", query: to.fullPath === "/" ? {} : { next: to.fullPath } };
  }
  // An administrator where the server requires two-factor sign-in sets it up first.
  if (session.twoFactorSetupRequired && to.name !== "account") return { name: "account" };
  if (to.meta.admin && !user.is_admin) return { name: "home" };
  return true;
});

// A page's code is loaded when first opened. After an upgrade of the server, an open
// tab asks for files of the old build that are gone: load the page afresh (once).
const RELOADED = "visualbox.reloaded";
router.onError((error: unknown, to) => {
  const message = error instanceof Error ? error.message : String(error);
  if (!/dynamically imported module|Importing a module script failed/i.test(message)) throw error;
  if (sessionStorage.getItem(RELOADED) === to.fullPath) throw error;
  sessionStorage.setItem(RELOADED, to.fullPath);
  window.location.assign(to.fullPath);
});

router.afterEach((to) => {
  sessionStorage.removeItem(RELOADED);
  document.title = to.meta.title ? `${to.meta.title} · VisualBox` : "VisualBox";
});
