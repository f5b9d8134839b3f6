import { z } from 'zod';
import { manifestPointerSchema, runIdSchema, tenantIdSchema } from '../../protocol';
import { MAX_RUN_WINDOW_SECONDS } from '../backup-window';
import { jsonPaths, type PayloadShape, wholeState } from './json-path';
import { lambdaTask } from './lambda-task';

/**
 * BackupRun's contract: what each state receives and hands on. One execution backs up one
 * tenant once: Prepare → Request backup (waits for the connector's result) → Validate → Finalize →
 * All parts kept?; any failure → Mark run failed → Publish alert → Backup failed.
 * infra/lib/constructs/backup-run-state-machine.ts builds the states from these paths; each
 * handler parses its event with the schema of its task's payload.
 */

/** Who asked for a run: the quarter-hour schedule, support (an operator, the tenant online), or an operator. */
export const runTriggerSchema = z.enum(['schedule', 'support', 'operator']);
export type RunTrigger = z.infer<typeof runTriggerSchema>;

/** The input a BackupRun execution is started with (by DailyBackups, or by the operator CLI). */
export const backupRunInputSchema = z
  .object({
    tenantId: tenantIdSchema,
    trigger: runTriggerSchema.default('operator'),
    requestedBy: z.string().min(1).max(200).default('unknown'),
    reason: z.string().max(1000).optional(),
    /** This run's backup window in seconds (`so-backup backup --window`; 0: none); absent: the tenant's, else the stack's (core/backup-window.ts). */
    windowSeconds: z.number().int().min(0).max(MAX_RUN_WINDOW_SECONDS).optional(),
  })
  .strict();
export type BackupRunInput = z.infer<typeof backupRunInputSchema>;

/** What Prepare returns and every later state carries as `$.run`. */
export const runRefSchema = z.object({
  runId: runIdSchema,
  tenantId: tenantIdSchema,
  trigger: runTriggerSchema,
  startedAt: z.string(),
  /** When the run's backup window ends (the job's `windowEndsAt`); absent: no window. */
  windowEndsAt: z.iso.datetime().optional(),
});
export type RunRef = z.infer<typeof runRefSchema>;

/** What the connector's "succeeded" result completes Request backup with (SendTaskSuccess), kept as `$.backup`. */
export const backupResultSchema = z.object({ manifest: manifestPointerSchema });
export type BackupResult = z.infer<typeof backupResultSchema>;

/** The part of Validate's report Finalize reads (`$.validation`); Validate fails the state unless something can be kept. */
export const validationSummarySchema = z
  .object({
    ok: z.boolean(),
    promotable: z.literal(true),
    checks: z.number(),
    totalBytes: z.number(),
    artifacts: z.array(
      z.object({ kind: z.enum(['database', 'archive']), name: z.string(), ok: z.boolean(), problems: z.array(z.string()) }),
    ),
    databases: z.array(z.object({ database: z.string(), size: z.number() }).loose()),
    archive: z
      .object({
        files: z.number(),
        bytes: z.number(),
        uploadedFiles: z.number(),
        uploadedBytes: z.number(),
        skippedFiles: z.number().default(0),
        /** Left for the next run by the backup window's end (seeding). */
        pendingFiles: z.number().optional(),
        pendingBytes: z.number().optional(),
      })
      .optional(),
  })
  .loose();
export type ValidationSummary = z.infer<typeof validationSummarySchema>;

/** An alert to publish to the alerts topic (SNS: a subject of at most 100 characters). */
export const alertSchema = z.object({ subject: z.string().max(100), message: z.string() });
export type Alert = z.infer<typeof alertSchema>;

/**
 * What Finalize hands on (`$.final`): whether a part failed (the run then fails, naming it in
 * `failureCause`), and for a kept run that needs action, the alert to publish. The rest is the
 * run's summary, for the execution history.
 */
export const finalOutcomeSchema = z
  .object({
    failed: z.boolean(),
    failureCause: z.string().optional(),
    alert: alertSchema.optional(),
  })
  .loose();

/** A caught error (`$.error`), as Step Functions' Catch hands it on (Error and Cause). */
export const stepErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

/**
 * The state of a BackupRun execution: the input, then each state's result at its result path.
 * Loose and optional throughout: a run can fail at any state, even before its input was checked.
 */
export const backupRunStateSchema = z
  .object({
    tenantId: z.string().optional(),
    trigger: runTriggerSchema.optional(),
    requestedBy: z.string().max(200).optional(),
    reason: z.string().max(1000).optional(),
    windowSeconds: z.number().optional(),
    run: runRefSchema.optional(),
    backup: backupResultSchema.optional(),
    validation: validationSummarySchema.optional(),
    final: finalOutcomeSchema.optional(),
    error: stepErrorSchema.optional(),
    alert: alertSchema.optional(),
  })
  .loose();

/**
 * What Mark run failed reads of the state: the error, and the input as far as it is there (a run
 * can fail before its input was checked, so nothing else is required, and nothing else is read).
 */
export const failedRunStateSchema = z
  .object({
    tenantId: z.string().optional(),
    trigger: runTriggerSchema.optional(),
    requestedBy: z.string().max(200).optional(),
    reason: z.string().max(1000).optional(),
    error: stepErrorSchema,
  })
  .loose();

const state = jsonPaths(backupRunStateSchema);
const context = jsonPaths(
  z.object({
    Execution: z.object({ Name: runIdSchema, Id: z.string().min(1), StartTime: z.string().min(1) }),
    Task: z.object({ Token: z.string().min(1) }),
  }),
  '$$',
);
const execution = { name: context.Execution.Name, id: context.Execution.Id, startTime: context.Execution.StartTime } satisfies PayloadShape;

export const backupRun = {
  name: 'BackupRun',
  input: backupRunInputSchema,
  state,
  tasks: {
    /** Checks the tenant may be backed up and opens the run record. */
    prepare: lambdaTask({ input: wholeState(backupRunInputSchema), execution }, state.run),
    /** Sends the job to the tenant's connector; the connector's result completes the task (`$.backup`). */
    requestBackup: lambdaTask({ taskToken: context.Task.Token, run: state.run }, state.backup),
    /** Checks every uploaded object against the manifest, without trusting the connector. */
    validate: lambdaTask({ run: state.run, manifest: state.backup.manifest }, state.validation),
    /** Promotes what validated into the retention tiers. */
    finalize: lambdaTask({ run: state.run, manifest: state.backup.manifest, validation: state.validation }, state.final),
    /** Records why the run failed (also a run that failed before Prepare recorded it) and words the alert. */
    markFailed: lambdaTask({ state: wholeState(failedRunStateSchema), execution }, state.alert),
  },
} as const;
