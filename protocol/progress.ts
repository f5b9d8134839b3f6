import { z } from 'zod';
import { PROTOCOL_VERSION, runIdSchema } from './envelope';

export const backupPhaseSchema = z.enum(['starting', 'database', 'upload', 'archive', 'manifest']);
export type BackupPhase = z.infer<typeof backupPhaseSchema>;

/** Connector → cloud: the job is alive; feeds the state machine's heartbeat. */
export const progressMessageSchema = z.object({
  type: z.literal('progress'),
  v: z.literal(PROTOCOL_VERSION),
  runId: runIdSchema,
  phase: backupPhaseSchema,
  percent: z.number().min(0).max(100).optional(),
  bytesDone: z.number().int().nonnegative().optional(),
  /** What the connector sent per second over the last 10 s, all its uploads together. */
  bytesPerSecond: z.number().nonnegative().optional(),
  /** Its bandwidth limit in force (null: unlimited); absent from connectors without one. */
  limitBytesPerSecond: z.number().positive().nullable().optional(),
  detail: z.string().max(500).optional(),
});
export type ProgressMessage = z.infer<typeof progressMessageSchema>;
