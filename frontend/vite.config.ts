/// <reference types="vitest/config" />
// Build settings of the VisualBox web app. `npm run build` writes into the Python
// package (src/visualbox/web, not committed); `npm run dev` serves the app with hot
// reload and sends every server path to `visualbox serve` on :8000 (VISUALBOX_DEV_SERVER),
// the live WebSocket /api/live included. Widget frames are not proxied: their URLs name
// the server's frames origin (:8001), never this one.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

import vue from "@vitejs/plugin-vue";
import { type Plugin, defineConfig } from "vite";

const server = process.env.VISUALBOX_DEV_SERVER ?? "http://127.0.0.1:8000";
const proxied = ["/api", "/verify-email", "/reset-password"];

/** Chart libraries for widgets, copied from node_modules to `<outDir>/lib/` and served at
 *  `/frames/lib/<name>` of the frames origin (docs/widgets.md): never from a CDN. */
const FRAME_LIBS: Record<string, string> = {
  "echarts.min.js": "echarts/dist/echarts.min.js",
  "uplot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uplot.min.css": "uplot/dist/uPlot.min.css",
  "leaflet.js": "leaflet/dist/leaflet.js",
  "leaflet.css": "leaflet/dist/leaflet.css",
  images: "leaflet/dist/images",
  "markdown-it.min.js": "markdown-it/dist/browser/markdown-it.umd.min.js",
  "purify.min.js": "dompurify/dist/purify.min.js",
};

function frameLibs(): Plugin {
  let outDir = "";
  return {
    name: "visualbox-frame-libs",
    apply: "build",
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    writeBundle() {
      for (const [name, from] of Object.entries(FRAME_LIBS)) {
        const target = resolve(outDir, "lib", name);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(resolve(__dirname, "node_modules", from), target, { recursive: true });
      }
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [vue(), frameLibs()],
  build: {
    outDir: "../src/visualbox/web",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: Object.fromEntries(
      // Host and Origin stay this server's, so the live socket's same-origin check holds.
      proxied.map((path) => [path, { target: server, ws: path === "/api", changeOrigin: false }]),
    ),
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
