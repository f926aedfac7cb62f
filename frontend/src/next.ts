// Where to go after signing in: the ?next= of the page, if it is a path of this
// app. Anything else (another origin, "//host", "/\host") falls back to home.

export function safeNext(next: unknown, fallback = "/"): string {
  if (typeof next !== "string" || !next.startsWith("/")) return fallback;
  if (/^\/[\\/]/.test(next) || /[\u0000-\u001f]/.test(next)) return fallback;
  return next;
}
