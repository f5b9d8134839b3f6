import { z } from 'zod';

/**
 * Where a value lives in a Step Functions state machine's JSON: a reference path into the state
 * (`$.backup.manifest`) or into the context object (`$$.Execution.Name`), with the zod schema of
 * the value found there. The state machine constructs build their payloads, result paths, choices
 * and alerts from these; the handlers parse what a payload delivers with the same schemas.
 * Paths follow the Amazon States Language's reference paths
 * (https://states-language.net/spec.html#ref-paths): `$` is the state, `$$` the context object.
 */
export interface JsonPathOf<S extends z.ZodType = z.ZodType> {
  /** The reference path: `$`, `$.run`, `$$.Execution.Name`. */
  readonly $: string;
  /** What is found there. */
  readonly $schema: S;
}

/** The whole state (`$`), read as `schema`: what it must hold at that point of the state machine. */
export function wholeState<S extends z.ZodType>(schema: S): JsonPathOf<S> {
  return { $: '$', $schema: schema };
}

/** The schema inside `.optional()`, `.default()` and `.nullable()` wrappers. */
type Unwrapped<S> =
  S extends z.ZodOptional<infer I>
    ? Unwrapped<I>
    : S extends z.ZodDefault<infer I>
      ? Unwrapped<I>
      : S extends z.ZodNullable<infer I>
        ? Unwrapped<I>
        : S;

/** A path and, for an object, the path of each of its fields: `paths.backup.manifest.$ === '$.backup.manifest'`. */
export type JsonPathTree<S extends z.ZodType> = JsonPathOf<S> &
  (Unwrapped<S> extends z.ZodObject<infer Shape>
    ? { readonly [K in keyof Shape & string]: Shape[K] extends z.ZodType ? JsonPathTree<Shape[K]> : never }
    : unknown);

function unwrap(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) return unwrap(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodDefault) return unwrap(schema.unwrap() as z.ZodType);
  return schema;
}

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The path tree of a schema rooted at `root` (`$` for the state, `$$.Execution` for the
 * execution's context). Field names must be plain identifiers, so every path is a dotted path
 * that both Step Functions and asl-validator accept.
 * @throws Error naming a field whose name cannot be written as a dotted path
 */
export function jsonPaths<S extends z.ZodType>(schema: S, root = '$'): JsonPathTree<S> {
  const node: Record<string, unknown> = { $: root, $schema: schema };
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    for (const [key, field] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
      if (!FIELD_NAME.test(key) || key === '$schema') throw new Error(`${root}: field "${key}" cannot be written as a dotted JSONPath`);
      node[key] = jsonPaths(field, `${root}.${key}`);
    }
  }
  return node as JsonPathTree<S>;
}

/** A payload: each field the path it is taken from, or an object of such fields. */
export type PayloadShape = { readonly [key: string]: JsonPathOf | PayloadShape };

/** The schema a payload is parsed with: each field's schema, required (an optional field of the state must be there by now). */
export type PayloadSchema<P extends PayloadShape> = z.ZodObject<{
  -readonly [K in keyof P]: P[K] extends JsonPathOf<infer S> ? RequiredSchema<S> : P[K] extends PayloadShape ? PayloadSchema<P[K]> : never;
}>;
type RequiredSchema<S> = S extends z.ZodOptional<infer I> ? I : S;

function isPath(value: JsonPathOf | PayloadShape): value is JsonPathOf {
  return typeof (value as JsonPathOf).$ === 'string' && (value as JsonPathOf).$schema instanceof z.ZodType;
}

/** The zod schema of what a payload delivers to its handler. */
export function payloadSchema<P extends PayloadShape>(payload: P): PayloadSchema<P> {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, value] of Object.entries(payload)) {
    shape[key] = isPath(value)
      ? value.$schema instanceof z.ZodOptional
        ? (value.$schema.unwrap() as z.ZodType)
        : value.$schema
      : payloadSchema(value);
  }
  return z.object(shape) as unknown as PayloadSchema<P>;
}

/** A payload as plain reference paths (`{ run: '$.run', execution: { name: '$$.Execution.Name' } }`), for the construct to render. */
export type PayloadPaths = { readonly [key: string]: string | PayloadPaths };

export function payloadPaths(payload: PayloadShape): PayloadPaths {
  return Object.fromEntries(Object.entries(payload).map(([key, value]) => [key, isPath(value) ? value.$ : payloadPaths(value)]));
}
