/// <reference types="vitest/config" />
// Build settings of the VisualBox web app. `npm run build` writes into the Python
// package (src/visualbox/web, not committed); `npm run dev` serves the app with hot
// reload and sends every server path to `visualbox serve` on :8000 (VISUALBOX_DEV_SERVER),
// the live WebSocket /api/live included. Widget frames are not proxied: their URLs name
// the server's frames origin (:8001), never this one.
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

import vue from "@vitejs/plugin-vue";
import { type Plugin, build, defineConfig } from "vite";

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

/** Slim builds of those libraries, made from `src/frame-libs/<entry>` as an IIFE that
 *  sets the global `name`: a frame evaluates all of a library it loads, on every visit. */
const SLIM_FRAME_LIBS: Record<string, { entry: string; name: string }> = {
  "echarts-gauge.min.js": { entry: "echarts-gauge.ts", name: "echarts" },
};

function frameLibs(): Plugin {
  let outDir = "";
  return {
    name: "visualbox-frame-libs",
    apply: "build",
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async writeBundle() {
      for (const [name, from] of Object.entries(FRAME_LIBS)) {
        const target = resolve(outDir, "lib", name);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(resolve(__dirname, "node_modules", from), target, { recursive: true });
      }
      for (const [fileName, { entry, name }] of Object.entries(SLIM_FRAME_LIBS)) {
        await build({
          configFile: false,
          logLevel: "warn",
          publicDir: false,
          define: { "process.env.NODE_ENV": JSON.stringify("production") },
          build: {
            outDir: resolve(outDir, "lib"),
            emptyOutDir: false,
            lib: {
              entry: resolve(__dirname, "src/frame-libs", entry),
              formats: ["iife"],
              name,
              fileName: () => fileName,
            },
          },
        });
      }
    },
  };
}

/** Text files of the build worth compressing, and the size under which it is not. */
const COMPRESSIBLE = new Set([".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest"]);
const MIN_COMPRESS_BYTES = 1024;

function* filesUnder(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile()) yield path;
  }
}

/** Precompressed copies of every text file of the build, `<name>.br` (brotli) and
 *  `<name>.gz` (gzip) next to `<name>`: the server sends one of them with
 *  `Content-Encoding` when the browser accepts it (src/visualbox/api/compression.py),
 *  so nothing is compressed per request. Node's own zlib: no extra package. */
function precompress(): Plugin {
  let outDir = "";
  return {
    name: "visualbox-precompress",
    apply: "build",
    enforce: "post",
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      // After every plugin wrote its files (frameLibs' libraries, the public/ folder).
      for (const path of filesUnder(outDir)) {
        if (!COMPRESSIBLE.has(extname(path)) || statSync(path).size < MIN_COMPRESS_BYTES) continue;
        const content = readFileSync(path);
        const gzip = gzipSync(content, { level: 9 });
        const brotli = brotliCompressSync(content, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: content.length,
          },
        });
        if (gzip.length < content.length) writeFileSync(`${path}.gz`, gzip);
        if (brotli.length < content.length) writeFileSync(`${path}.br`, brotli);
      }
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [vue(), frameLibs(), precompress()],
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
