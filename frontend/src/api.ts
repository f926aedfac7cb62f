// The one client of the VisualBox REST API: `client` is openapi-fetch typed by the
// paths and models generated from the server's OpenAPI document
// (src/generated/api.ts, `npm run types`), so a call's path, parameters, body and
// answer are checked against the server. Every request carries the session cookie
// (same origin), and every failure throws one error type carrying the server's error
// shape `{"error": {"code", "message", "fields": [{"field", "reason"}]}}`.
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
  return value.filter(isRecord).map((f) => ({
    field: String(f.field ?? ""),
    reason: String(f.reason ?? ""),
  }));
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
