// A module's config.json as the web app reads it: the field types of
// src/visualbox/modules/config_schema.py (docs/modules.md), their default values,
// the stored-secret marker, and the values to send back.
import type { ConfigFieldPublic, SelectOptionPublic } from "../generated/api";

/** One entry of config.json, as the server normalised it (the registry's answers) or as
 *  `parseSchema` reads it from a working copy's file. */
export type ConfigField = ConfigFieldPublic;
export type FieldType = ConfigField["type"];
export type SelectOption = SelectOptionPublic;
export type Scalar = SelectOption["value"];

// Every field type the server knows: the compiler refuses this object when the server's
// list (the generated FieldType) gains or loses one.
const KNOWN_TYPES: Record<FieldType, true> = {
  text: true,
  password: true,
  textarea: true,
  number: true,
  color: true,
  switch: true,
  slider: true,
  select: true,
  date: true,
};

export const FIELD_TYPES = Object.keys(KNOWN_TYPES) as readonly FieldType[];

/** What the server sends instead of a stored password value. */
export interface SecretMarker {
  secret: true;
  set: boolean;
}

export type ConfigValues = Record<string, unknown>;

export function isSecretMarker(value: unknown): value is SecretMarker {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>).secret === true &&
    typeof (value as Record<string, unknown>).set === "boolean"
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The usable entries of a config.json document (parsed JSON). Entries the form
 * cannot show (not an object, unknown type, no name) are left out; the server's
 * check reports them with their reasons.
 */
export function parseSchema(document: unknown): ConfigField[] {
  if (!Array.isArray(document)) return [];
  const fields: ConfigField[] = [];
  for (const entry of document) {
    if (!isRecord(entry) || typeof entry.name !== "string" || typeof entry.type !== "string") continue;
    const type = entry.type.toLowerCase() as FieldType;
    if (!FIELD_TYPES.includes(type)) continue;
    const { help, ...rest } = entry;
    const description = typeof entry.description === "string" ? entry.description : help;
    fields.push({
      ...(rest as unknown as ConfigField),
      type,
      label: typeof entry.label === "string" && entry.label ? entry.label : entry.name,
      default: entry.default ?? null,
      required: entry.required === true,
      // `help` is the original VisualBox's name of `description` (the server reads both).
      ...(typeof description === "string" ? { description } : {}),
    });
  }
  return fields;
}

/** The value a field starts with: its default; a switch without one is false. */
export function defaultOf(field: ConfigField): unknown {
  if (field.default !== undefined && field.default !== null) return field.default;
  return field.type === "switch" ? false : null;
}

/** Every field's value: `values` where given, else the default. Unknown names are dropped. */
export function withDefaults(schema: ConfigField[], values: ConfigValues = {}): ConfigValues {
  const out: ConfigValues = {};
  for (const field of schema) {
    const given = values[field.name];
    out[field.name] = given === undefined || given === null ? defaultOf(field) : given;
  }
  return out;
}

/** The values to send: untouched stored secrets are left out (the server keeps them). */
export function valuesToSend(values: ConfigValues): ConfigValues {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => !isSecretMarker(v)));
}

/** Reasons by field name from an API error's fields (`config.city` or `city`). */
export function errorsByName(fields: { field: string; reason: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const name = f.field.startsWith("config.") ? f.field.slice("config.".length) : f.field;
    out[name] = f.reason;
  }
  return out;
}
