import type { z } from 'zod';
import { type JsonPathOf, type PayloadPaths, payloadPaths, type PayloadSchema, payloadSchema, type PayloadShape } from './json-path';

/**
 * One Lambda task of a state machine: the payload it is invoked with (each field the path it is
 * taken from), the schema its handler parses that payload with, and where its result goes.
 */
export interface LambdaTaskContract<P extends PayloadShape, R extends z.ZodType> {
  /** For the construct: `TaskInput.fromObject` of these reference paths. */
  readonly payload: PayloadPaths;
  /** For the handler: what the payload delivers. */
  readonly event: PayloadSchema<P>;
  /** The task's result path in the state (`$.run`), and the schema of what the handler returns. */
  readonly result: JsonPathOf<R>;
}

export function lambdaTask<P extends PayloadShape, R extends z.ZodType>(payload: P, result: JsonPathOf<R>): LambdaTaskContract<P, R> {
  return { payload: payloadPaths(payload), event: payloadSchema(payload), result };
}

/** What a task's handler must return: the input type of its result's schema (unwrapped from the state's `.optional()`). */
export type TaskResult<T> = T extends LambdaTaskContract<PayloadShape, infer R> ? Exclude<z.input<R>, undefined> : never;
