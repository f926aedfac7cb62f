// The one client of the VisualBox REST API: `client` is openapi-fetch typed by the
// paths and models generated from the server's OpenAPI document
// (src/generated/api.ts, `npm run types`), so a call's path, parameters, body and
// answer are checked against the server. Every request carries the session cookie
// (same origin), and every failure throws one error type carrying the server's error
// shape `{"error": {"code", "message", "fields": [{"field", "label", "reason"}]}}`:
// `field` names the input (forms map reasons by it), `label` and `reason` are words
// for people; a path such as `widgets[2].w` is never shown.
import createClient from "openapi-fetch";

import type { ErrorField, paths } from "./generated/api";

export type FieldProblem = ErrorField;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldProblem[];

  constructor(status: number, code: string, message: string, fields: FieldProblem[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** The reason given for `field`, if the server named it. */
  fieldReason(field: string): string | undefined {
    return this.fields.find((f) => f.field === field)?.reason;
  }

  /** Reasons by field name, for forms (`errors.email`). */
  fieldMap(): Record<string, string> {
    return Object.fromEntries(this.fields.map((f) => [f.field, f.reason]));
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fieldList(value: unknown): FieldProblem[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isRecord).map((f) => {
    const field = String(f.field ?? "");
    const label = typeof f.label === "string" && f.label ? f.label : labelOf(field);
    return { field, label, reason: String(f.reason ?? "") };
  });
}

/**
 * A field path in words when the server sent no label: `display_name` is "Display
 * name", `widgets[2].w` "Width (widget 3)". Never the path itself.
 */
const WORDS: Record<string, string> = {
  w: "Width",
  h: "Height",
  x: "Column",
  y: "Row",
  email: "Email address",
  module_id: "Module",
  source: "Data source",
  revision: "Saved version",
};

export function labelOf(field: string): string {
  const context: string[] = [];
  const words: string[] = [];
  let previous = "";
  for (const [, index, name] of field.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) {
    if (index !== undefined) {
      const item = previous.endsWith("s") ? previous.slice(0, -1) : "entry";
      if (words[words.length - 1] === previous) words.pop();
      context.push(`${item.replace(/_/g, " ")} ${Number(index) + 1}`);
      previous = index;
    } else if (name !== undefined) {
      if (!["body", "config", "settings", "instance"].includes(name)) words.push(name);
      previous = name;
    }
  }
  const last = words[words.length - 1] ?? context.pop() ?? "value";
  const text = WORDS[last] ?? last.replace(/[_-]+/g, " ").replace(/\bid\b/g, "ID");
  const main = text.charAt(0).toUpperCase() + text.slice(1);
  return context.length ? `${main} (${context.join(", ")})` : main;
}

/** Turn any failed response body into an ApiError (the body may be anything). */
export function parseError(status: number, body: unknown, statusText = ""): ApiError {
  const error = isRecord(body) ? body.error : undefined;
  if (isRecord(error) && typeof error.message === "string") {
    const code = typeof error.code === "string" ? error.code : "error";
    return new ApiError(status, code, error.message, fieldList(error.fields));
  }
  const fallback = statusText || `The server answered ${status}.`;
  return new ApiError(status, status >= 500 ? "internal" : "error", fallback);
}

export type Query = Record<string, string | number | boolean | undefined | null>;

/** `a=1&b=x`: values left out when undefined, null or "" (a cleared search box). */
export function serializeQuery(query: Record<string, unknown> | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  return params.toString();
}

let onUnauthenticated: ((path: string) => void) | null = null;

/** Called when a request is refused for want of a session (it ended, or expired). */
export function setUnauthenticatedHandler(handler: ((path: string) => void) | null): void {
  onUnauthenticated = handler;
}

/** `fetch` for the API: resolves with 2xx responses only; anything else throws ApiError. */
export async function apiFetch(request: Request): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(request);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "network", "Cannot reach the VisualBox server. Check your connection.");
  }
  if (!response.ok) {
    let parsed: unknown = undefined;
    try {
      parsed = await response.json();
    } catch {
      parsed = undefined;
    }
    const error = parseError(response.status, parsed, response.statusText);
    const path = new URL(request.url).pathname;
    if (error.status === 401 && !path.startsWith("/api/auth/")) onUnauthenticated?.(path);
    throw error;
  }
  return response;
}

/** The app's own origin: requests are absolute URLs (a `Request` needs one). */
const origin = globalThis.location?.origin ?? "http://localhost";

/** The typed client: `await ok(client.GET("/api/dashboards/{dashboard_id}", {...}))`. */
export const client = createClient<paths>({
  baseUrl: origin,
  fetch: apiFetch,
  credentials: "same-origin",
  headers: { Accept: "application/json" },
  querySerializer: serializeQuery,
});

/**
 * The answer of a typed call. Failures never get here (`apiFetch` threw ApiError),
 * so the body is the 2xx answer the OpenAPI document declares (undefined for 204).
 */
export async function ok<T>(call: Promise<{ data?: T; response: Response }>): Promise<T> {
  return (await call).data as T;
}

export interface RawOptions {
  query?: Query;
  /** Sent as is (a file's bytes, a ZIP). */
  body?: BodyInit;
  headers?: Record<string, string>;
}

/**
 * A request whose body or answer is bytes, not JSON (module files and archives, which
 * the OpenAPI document describes as such): same cookie and errors as `client`.
 */
export function send(method: string, path: string, options: RawOptions = {}): Promise<Response> {
  const query = serializeQuery(options.query);
  const url = `${origin}${path}${query ? `?${query}` : ""}`;
  const headers = { Accept: "application/json", ...options.headers };
  return apiFetch(new Request(url, { method, headers, body: options.body, credentials: "same-origin" }));
}

/** A message for any thrown value, for toasts and error boxes. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
