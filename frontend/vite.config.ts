/// <reference types="vitest/config" />
// Build settings of the VisualBox web app. `npm run build` writes into the Python
// package (src/visualbox/web, not committed); `npm run dev` serves the app with hot
// reload and sends every server path to `visualbox serve` on :8000.
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

const server = process.env.VISUALBOX_DEV_SERVER ?? "http://127.0.0.1:8000";
const proxied = ["/api", "/ws", "/frames", "/verify-email", "/reset-password"];

export default defineConfig({
  base: "/",
  plugins: [vue()],
  build: {
    outDir: "../src/visualbox/web",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: Object.fromEntries(
      proxied.map((path) => [path, { target: server, ws: path === "/ws", changeOrigin: false }]),
    ),
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
