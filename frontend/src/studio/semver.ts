// Semantic versions (semver.org 2.0.0) as the publish dialog checks them before the
// server does: the format and the ordering (build metadata is ignored).

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

export function parseSemver(text: string): SemVer | null {
  const m = SEMVER.exec(text.trim());
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ? m[4].split(".") : [] };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareSemver(a: SemVer, b: SemVer): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core) return core;
  if (!a.pre.length || !b.pre.length) return b.pre.length - a.pre.length;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const c = compareIdentifiers(a.pre[i]!, b.pre[i]!);
    if (c) return c;
  }
  return a.pre.length - b.pre.length;
}

/** The highest of `versions` (unparsable ones ignored), or null. */
export function highest(versions: string[]): string | null {
  let best: { text: string; v: SemVer } | null = null;
  for (const text of versions) {
    const v = parseSemver(text);
    if (v && (!best || compareSemver(v, best.v) > 0)) best = { text, v };
  }
  return best?.text ?? null;
}

/** Why `candidate` cannot follow `latest` (null when it can). */
export function versionProblem(candidate: string, latest: string | null): string | null {
  const v = parseSemver(candidate);
  if (!v) return "must be a semantic version such as 1.2.0";
  const top = latest ? parseSemver(latest) : null;
  if (top && compareSemver(v, top) <= 0) return `must be greater than ${latest}, the latest version published`;
  return null;
}

/** A suggestion for the next version: 1.0.0 first, then the next minor. */
export function nextVersion(latest: string | null): string {
  const v = latest ? parseSemver(latest) : null;
  if (!v) return "1.0.0";
  return v.pre.length ? `${v.major}.${v.minor}.${v.patch}` : `${v.major}.${v.minor + 1}.0`;
}
