// What the developer typed as test values and sample data, kept for the browser tab
// (sessionStorage) so that a reload or a trip to another page keeps them. Password
// values are never stored.
import type { ConfigField, ConfigValues } from "../forms/config";

const key = (moduleId: string, what: string) => `visualbox.studio.${moduleId}.${what}`;

function read(name: string): unknown {
  try {
    const text = sessionStorage.getItem(name);
    return text === null ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function write(name: string, value: unknown): void {
  try {
    sessionStorage.setItem(name, JSON.stringify(value));
  } catch {
    // Storage full or refused: the values last for this page only.
  }
}

export function rememberedValues(moduleId: string): ConfigValues {
  const found = read(key(moduleId, "config"));
  return typeof found === "object" && found !== null && !Array.isArray(found) ? (found as ConfigValues) : {};
}

export function rememberValues(moduleId: string, schema: ConfigField[], values: ConfigValues): void {
  const secret = new Set(schema.filter((f) => f.type === "password").map((f) => f.name));
  write(key(moduleId, "config"), Object.fromEntries(Object.entries(values).filter(([k]) => !secret.has(k))));
}

export function rememberedSample(moduleId: string): string | undefined {
  const found = read(key(moduleId, "sample"));
  return typeof found === "string" ? found : undefined;
}

export function rememberSample(moduleId: string, text: string): void {
  write(key(moduleId, "sample"), text);
}
