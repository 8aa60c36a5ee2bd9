import { didYouMean } from './suggest.js';

/**
 * A tiny declarative schema for config and catalog files, and the TypeScript types derived
 * from it (`Infer`), so each key is declared once. Hand-written rather than zod, valibot or
 * TypeBox because every error must be one line naming the key, the value and what would be
 * accepted, with a "did you mean" for unknown keys and values (the tests pin those words):
 * a library's issues would have to be re-worded by code as long as this checker.
 */
export type Field =
  | { kind: 'string'; optional?: boolean; pattern?: RegExp; patternHint?: string }
  | { kind: 'integer'; optional?: boolean; min?: number; max?: number }
  | { kind: 'boolean'; optional?: boolean }
  | { kind: 'enum'; optional?: boolean; values: readonly string[] }
  | { kind: 'strings'; optional?: boolean; pattern?: RegExp; patternHint?: string }
  | { kind: 'object'; optional?: boolean; fields: Schema };

export type Schema = Readonly<Record<string, Field>>;

/** The value a field accepts, as a TypeScript type. */
type FieldType<F> = F extends { kind: 'string' }
  ? string
  : F extends { kind: 'integer' }
    ? number
    : F extends { kind: 'boolean' }
      ? boolean
      : F extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : F extends { kind: 'strings' }
          ? string[]
          : F extends { kind: 'object'; fields: infer S }
            ? Infer<S>
            : never;

type OptionalKeys<S> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];

/** The type of a value that passes `check(value, schema)`; declare the schema `as const satisfies Schema`. */
export type Infer<S> = {
  -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: FieldType<S[K]>;
} & {
  -readonly [K in OptionalKeys<S>]?: FieldType<S[K]>;
} extends infer O
  ? { [K in keyof O]: O[K] }
  : never;

export interface SchemaIssue {
  key: string;
  message: string;
}

const show = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v));

const typeName = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

/** Checks `value` against `schema`; returns every issue found, in key order. */
export function check(value: unknown, schema: Schema, prefix = ''): SchemaIssue[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ key: prefix.replace(/\.$/, '') || '(root)', message: `must be an object, got ${typeName(value)}` }];
  }
  const issues: SchemaIssue[] = [];
  const record = value as Record<string, unknown>;
  const known = Object.keys(schema);
  for (const key of Object.keys(record)) {
    if (!(key in schema)) {
      const full = prefix + key;
      issues.push({ key: full, message: `unknown key${didYouMean(key, known)}; accepted keys: ${known.join(', ')}` });
    }
  }
  for (const [key, field] of Object.entries(schema)) {
    const full = prefix + key;
    const v = record[key];
    if (v === undefined) {
      if (!field.optional) issues.push({ key: full, message: 'is required' });
      continue;
    }
    issues.push(...checkField(v, field, full));
  }
  return issues;
}

function checkField(v: unknown, field: Field, key: string): SchemaIssue[] {
  const bad = (expected: string): SchemaIssue[] => [
    { key, message: `has ${typeName(v)} ${show(v)}, expected ${expected}` },
  ];
  switch (field.kind) {
    case 'string':
      if (typeof v !== 'string') return bad('a string');
      if (field.pattern && !field.pattern.test(v)) return bad(field.patternHint ?? `a string matching ${field.pattern}`);
      return [];
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) return bad('an integer');
      if ((field.min !== undefined && v < field.min) || (field.max !== undefined && v > field.max)) {
        return bad(`an integer from ${field.min ?? '-inf'} to ${field.max ?? 'inf'}`);
      }
      return [];
    case 'boolean':
      return typeof v === 'boolean' ? [] : bad('true or false');
    case 'enum':
      if (typeof v === 'string' && field.values.includes(v)) return [];
      return [
        {
          key,
          message: `has ${show(v)}${typeof v === 'string' ? didYouMean(v, field.values) : ''}; accepted: ${field.values.join(', ')}`,
        },
      ];
    case 'strings': {
      if (!(Array.isArray(v) && v.every((s) => typeof s === 'string'))) return bad('an array of strings');
      const pattern = field.pattern;
      if (!pattern) return [];
      // the offending element by index, so a long list still gets one precise line
      return v.flatMap((s: string, i) => (pattern.test(s) ? [] : [{ key: `${key}[${i}]`, message: `has ${show(s)}, expected ${field.patternHint ?? `a string matching ${pattern}`}` }]));
    }
    case 'object':
      return check(v, field.fields, `${key}.`);
  }
}
