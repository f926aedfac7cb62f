// JSON Pointer (RFC 6901): how a widget's `source` names the part of the dashboard's
// data model `{instanceId: data}` it shows, e.g. "/i1/temperature" or "/i1/a~1b" for
// the key "a/b". Unlike the original's dot paths, keys may contain any character.

/** A pointer that is not valid RFC 6901 syntax. */
export class PointerSyntaxError extends Error {
  constructor(pointer: string, reason: string) {
    super(`Invalid JSON Pointer ${JSON.stringify(pointer)}: ${reason}`);
    this.name = "PointerSyntaxError";
  }
}

/** The reference tokens of `pointer`, unescaped ("" is the whole document: []). */
export function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PointerSyntaxError(pointer, "must start with '/'");
  if (/~(?![01])/.test(pointer)) {
    throw new PointerSyntaxError(pointer, "'~' must be followed by 0 or 1");
  }
  // ~1 first, then ~0: "~01" is the key "~1", not "/".
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** One token, escaped for a pointer ("a/b" → "a~1b", "~" → "~0"). */
export function escapeToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** The pointer made of these (unescaped) tokens. */
export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((token) => "/" + escapeToken(token)).join("");
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

export type Resolved = { found: true; value: unknown } | { found: false };

/**
 * The value `pointer` refers to in `document`, or `{found: false}` when a step is
 * missing. Only own properties count (never `__proto__`, `constructor`, ...); an
 * array step must be a canonical index ("-", "01" and "1.0" find nothing).
 * Throws PointerSyntaxError for a malformed pointer.
 */
export function resolvePointer(document: unknown, pointer: string): Resolved {
  let current: unknown = document;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return { found: false };
      const index = Number(token);
      if (index >= current.length) return { found: false };
      current = current[index];
    } else if (current !== null && typeof current === "object") {
      if (!Object.prototype.hasOwnProperty.call(current, token)) return { found: false };
      current = (current as Record<string, unknown>)[token];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: current };
}

/** Shorthand: the value, or `undefined` when it is missing or the pointer is malformed. */
export function pick(document: unknown, pointer: string): unknown {
  try {
    const resolved = resolvePointer(document, pointer);
    return resolved.found ? resolved.value : undefined;
  } catch (error) {
    if (error instanceof PointerSyntaxError) return undefined;
    throw error;
  }
}
