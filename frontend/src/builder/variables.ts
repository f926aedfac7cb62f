// Dashboard variables (docs/dashboards.md#variables): a widget's source and its config
// string values may use `${name}`; each viewer picks the values in the bar above the
// grid, and the choice lives in this browser's URL only (`?var-device=a`), so a link
// opens the same view. Substitution happens here, on the data the page already has: the
// live data model holds each instance's whole output (liveData.ts), so a choice never
// asks the server for anything and never restarts or reconfigures the shared instance.
//
// A page calls `provideVariables(variables, data)`; each widget cell calls
// `useVariables()` and shows `applyVariables(widget, values)`.
import { type ComputedRef, type InjectionKey, computed, inject, provide } from "vue";
import { type LocationQuery, useRoute, useRouter } from "vue-router";

import type { VariablePublic } from "../generated/api";
import { escapeToken, parsePointer, resolvePointer } from "../widgets/pointer";

export type Variable = VariablePublic;
export type VariableValues = Record<string, string>;

const REFERENCE = /\$\{([^}]*)\}/g;
export const QUERY_PREFIX = "var-";

/** `text` with each known `${name}` replaced by its value (unknown ones stay). */
export function substitute(text: string, values: VariableValues, escape: (v: string) => string = (v) => v): string {
  return text.replace(REFERENCE, (whole, name: string) => (name in values ? escape(values[name]) : whole));
}

/** A source pointer with each `${name}` replaced by the value as one pointer token
 *  (so a value "a/b" stays one key: "a~1b"). */
export function substitutePointer(source: string, values: VariableValues): string {
  return substitute(source, values, escapeToken);
}

/** A config with `${name}` replaced in every string, at any depth. */
export function substituteConfig<T>(config: T, values: VariableValues): T {
  if (typeof config === "string") return substitute(config, values) as T;
  if (Array.isArray(config)) return config.map((v) => substituteConfig(v, values)) as T;
  if (config !== null && typeof config === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) out[k] = substituteConfig(v, values);
    return out as T;
  }
  return config;
}

/** Whether a widget's source or config uses a variable at all. */
export function usesVariables(widget: { source?: string | null; config: unknown }): boolean {
  return (widget.source ?? "").includes("${") || JSON.stringify(widget.config).includes("${");
}

/** A widget as this viewer sees it: source and config with the chosen values. */
export function applyVariables<W extends { source?: string | null; config: Record<string, unknown> }>(
  widget: W,
  values: VariableValues,
): W {
  if (!usesVariables(widget)) return widget;
  return {
    ...widget,
    source: widget.source ? substitutePointer(widget.source, values) : widget.source,
    config: substituteConfig(widget.config, values),
  };
}

/** The values a viewer may choose: a list's values, the keys (or items) at a path
 *  variable's pointer in the live data, none for free text. */
export function optionsOf(variable: Variable, data: Record<string, unknown>): string[] {
  if (variable.kind === "list") return variable.values;
  if (variable.kind !== "path" || !variable.path) return [];
  let found;
  try {
    // The instance is read with a plain property access first: resolvePointer() checks
    // own properties, which Vue does not track (so options would never come).
    const first = parsePointer(variable.path)[0] ?? "";
    const top = data[first];
    if (top === undefined) return [];
    found = resolvePointer({ [first]: top }, variable.path);
  } catch {
    return [];
  }
  if (!found.found) return [];
  const value = found.value;
  if (Array.isArray(value)) {
    return value.flatMap((item) => (typeof item === "string" || typeof item === "number" ? [String(item)] : []));
  }
  if (value !== null && typeof value === "object") return Object.keys(value);
  return [];
}

/** Each variable's value: the URL's `?var-name=`, else its default, else (a list or a
 *  path) its first option, else "". */
export function chosenValues(variables: readonly Variable[], query: LocationQuery, data: Record<string, unknown>): VariableValues {
  const values: VariableValues = {};
  for (const v of variables) {
    const given = query[QUERY_PREFIX + v.name];
    const fromUrl = Array.isArray(given) ? given[0] : given;
    if (typeof fromUrl === "string") values[v.name] = fromUrl;
    else if (v.default != null) values[v.name] = v.default;
    else values[v.name] = optionsOf(v, data)[0] ?? "";
  }
  return values;
}

export interface VariablesContext {
  variables: ComputedRef<readonly Variable[]>;
  values: ComputedRef<VariableValues>;
  options: (variable: Variable) => string[];
  choose: (name: string, value: string) => void;
}

const KEY: InjectionKey<VariablesContext> = Symbol("variables");

/** The page's variables and this viewer's choices (in the URL), for every widget below. */
export function provideVariables(
  variables: () => readonly Variable[] | undefined,
  data: Record<string, unknown>,
): VariablesContext {
  const route = useRoute();
  const router = useRouter();
  const list = computed(() => variables() ?? []);
  const values = computed(() => chosenValues(list.value, route.query, data));
  const context: VariablesContext = {
    variables: list,
    values,
    options: (variable) => optionsOf(variable, data),
    choose(name, value) {
      void router.replace({ query: { ...route.query, [QUERY_PREFIX + name]: value } });
    },
  };
  provide(KEY, context);
  return context;
}

export function useVariables(): VariablesContext | null {
  return inject(KEY, null);
}

/** `source` using `variable`: a path variable whose path the source runs through
 *  (`/i1/devices/a/t` with `/i1/devices`) takes the place of the token after it
 *  (`/i1/devices/${device}/t`); any other variable is appended as the last token. */
export function withVariable(source: string, variable: Variable): string {
  const reference = "${" + variable.name + "}";
  const path = variable.kind === "path" ? variable.path ?? "" : "";
  if (path && source.startsWith(path + "/")) {
    const rest = source.slice(path.length + 1);
    const slash = rest.indexOf("/");
    return `${path}/${reference}${slash < 0 ? "" : rest.slice(slash)}`;
  }
  return `${source}/${reference}`;
}
