// Which CodeMirror language a module file gets, by its extension; and which files
// are text the editor may open (everything else is shown as binary, never rewritten).
import { css } from "@codemirror/lang-css";
import { go } from "@codemirror/lang-go";
import { html } from "@codemirror/lang-html";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { markdown } from "@codemirror/lang-markdown";
import { python } from "@codemirror/lang-python";
import type { Extension } from "@codemirror/state";

const byExtension: Record<string, () => Extension> = {
  html: () => html(),
  htm: () => html(),
  svg: () => html(),
  css: () => css(),
  js: () => javascript(),
  mjs: () => javascript(),
  cjs: () => javascript(),
  ts: () => javascript({ typescript: true }),
  jsx: () => javascript({ jsx: true }),
  json: () => json(),
  md: () => markdown(),
  markdown: () => markdown(),
  py: () => python(),
  go: () => go(),
};

export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

/** The language support for `path` (none for plain text). */
export function languageFor(path: string): Extension {
  return byExtension[extensionOf(path)]?.() ?? [];
}

const BINARY_EXTENSIONS = new Set([
  "png", "jpg", "jpeg", "gif", "webp", "ico", "bmp", "avif", "woff", "woff2", "ttf", "otf",
  "eot", "zip", "gz", "tgz", "pdf", "wasm", "mp3", "mp4", "webm", "ogg", "wav", "bin", "so",
  "dll", "exe", "pyc",
]);

/** The text of `bytes`, or null when they are not UTF-8 text (or name a binary format). */
export function decodeText(path: string, bytes: ArrayBuffer): string | null {
  if (BINARY_EXTENSIONS.has(extensionOf(path))) return null;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
  return text.includes("\u0000") ? null : text;
}

const IMAGE_TYPES: Record<string, string> = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp",
};

/** The media type to preview `path` as an image (raster only: an SVG could run scripts). */
export function imageType(path: string): string | null {
  return IMAGE_TYPES[extensionOf(path)] ?? null;
}
