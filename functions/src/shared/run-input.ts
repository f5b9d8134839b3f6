import { z } from 'zod';
import { runIdSchema, tenantIdSchema } from '../../../protocol';
import { RunError } from '../../../core';

/** The input a BackupRun execution is started with. */
export const backupRunInputSchema = z.object({
  tenantId: tenantIdSchema,
  trigger: z.enum(['schedule', 'support', 'operator']).default('operator'),
  requestedBy: z.string().min(1).max(200).default('unknown'),
  reason: z.string().max(1000).optional(),
}).strict();
export type BackupRunInput = z.infer<typeof backupRunInputSchema>;

/** The Step Functions context fields our states pass to Lambda. */
export const executionContextSchema = z.object({ name: runIdSchema, id: z.string().min(1).optional(), startTime: z.string().min(1) });

/** What Prepare returns and every later state carries as $.run. */
export const runRefSchema = z.object({
  runId: runIdSchema,
  tenantId: tenantIdSchema,
  trigger: z.enum(['schedule', 'support', 'operator']),
  startedAt: z.string(),
});
export type RunRef = z.infer<typeof runRefSchema>;

/** zod-parses a Lambda event; a mismatch is a permanent InvalidInput failure naming the fields. */
export function parseEvent<S extends z.ZodType>(schema: S, event: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(event);
  if (!parsed.success) throw new RunError('InvalidInput', `${what}: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  return parsed.data;
}
