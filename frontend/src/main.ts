import { createApp } from "vue";

import { setUnauthenticatedHandler } from "./api";
import App from "./App.vue";
import { router } from "./router";
import { session, setUser } from "./session";
import { installTheme } from "./theme";
import "./styles.css";

installTheme();

// The session ended (signed out elsewhere, expired, password reset): back to sign-in,
// then to where the user was.
setUnauthenticatedHandler(() => {
  if (!session.user) return;
  setUser(null);
  const here = router.currentRoute.value;
  if (!here.meta.public && !here.meta.guest) {
    void router.replace({ name: "signin", query: { next: here.fullPath } });
  }
});
createApp(App).use(router).mount("#app");

if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // Not installable here (an http origin other than localhost): the app works as is.
    });
  });
}
