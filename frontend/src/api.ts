// The typed client of the VisualBox REST API: JSON in and out, the session cookie
// (same origin), and one error type carrying the server's error shape
// `{"error": {"code", "message", "fields": [{"field", "reason"}]}}`.

export interface FieldProblem {
  field: string;
  reason: string;
}

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

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Sent as is (FormData, Blob); no JSON encoding. */
  raw?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

let onUnauthenticated: ((path: string) => void) | null = null;

/** Called when a request is refused for want of a session (it ended, or expired). */
export function setUnauthenticatedHandler(handler: ((path: string) => void) | null): void {
  onUnauthenticated = handler;
}

/** Send one request; resolves with the response when it is 2xx, else throws ApiError. */
export async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body,
      credentials: "same-origin",
      signal: options.signal,
    });
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
    if (error.status === 401 && !path.startsWith("/api/auth/")) onUnauthenticated?.(path);
    throw error;
  }
  return response;
}

/** Send a request and decode its JSON answer (undefined for 204 or an empty body). */
export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) =>
    request<T>("GET", path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, { body }),
  put: <T>(path: string, body?: unknown) => request<T>("PUT", path, { body }),
  patch: <T>(path: string, body?: unknown) => request<T>("PATCH", path, { body }),
  delete: <T = void>(path: string) => request<T>("DELETE", path),
};

/** A message for any thrown value, for toasts and error boxes. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

// ---- Shapes shared by several pages -------------------------------------------------

export interface Account {
  id: string;
  name: string;
  email: string;
  is_admin: boolean;
  email_verified: boolean;
  two_factor_enabled: boolean;
  created_at: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}
