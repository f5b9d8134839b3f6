import { z } from 'zod';
import { PROTOCOL_VERSION, runIdSchema, wireErrorSchema } from './envelope';

/** Where the connector wrote the run's manifest (the validator reads it from there). */
export const manifestPointerSchema = z.object({ key: z.string().min(1).max(1024), versionId: z.string().min(1) });
export type ManifestPointer = z.infer<typeof manifestPointerSchema>;

/** Connector → cloud: the job ended. On success it points at the manifest; on failure it says why. */
export const resultMessageSchema = z.discriminatedUnion('outcome', [
  z.object({
    type: z.literal('result'),
    v: z.literal(PROTOCOL_VERSION),
    runId: runIdSchema,
    outcome: z.literal('succeeded'),
    manifest: manifestPointerSchema,
  }),
  z.object({
    type: z.literal('result'),
    v: z.literal(PROTOCOL_VERSION),
    runId: runIdSchema,
    outcome: z.literal('failed'),
    error: wireErrorSchema,
  }),
]);
export type ResultMessage = z.infer<typeof resultMessageSchema>;
