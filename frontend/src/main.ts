import { createApp } from "vue";

import App from "./App.vue";
import { router } from "./router";
import { installTheme } from "./theme";
import "./styles.css";

installTheme();
createApp(App).use(router).mount("#app");

if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // Not installable here (an http origin other than localhost): the app works as is.
    });
  });
}
