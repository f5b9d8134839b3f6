import { z } from 'zod';
import { bandwidthSettingSchema } from './bandwidth';
import { PROTOCOL_VERSION, runIdSchema, tenantIdSchema } from './envelope';

/** Short-lived S3 credentials minted for one run, scoped to the tenant's prefixes. */
export const uploadCredentialsSchema = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
  expiration: z.iso.datetime(),
});
export type UploadCredentials = z.infer<typeof uploadCredentialsSchema>;

/** Where the connector uploads: the bucket, its region, and (local mode only) an S3 endpoint. */
export const uploadTargetSchema = z.object({
  bucket: z.string().min(3).max(63),
  region: z.string().min(1),
  endpoint: z.url().optional(),
  forcePathStyle: z.boolean().default(false),
});
export type UploadTarget = z.infer<typeof uploadTargetSchema>;

/** Cloud → connector: take a backup now. */
export const backupJobSchema = z.object({
  type: z.literal('backup-job'),
  v: z.literal(PROTOCOL_VERSION),
  runId: runIdSchema,
  tenantId: tenantIdSchema,
  target: uploadTargetSchema,
  credentials: uploadCredentialsSchema,
  requestedAt: z.iso.datetime(),
  /** The tenant's bandwidth setting now (null: none), so a connector that missed a change has it before it sends anything. */
  bandwidth: bandwidthSettingSchema.nullable().optional(),
  /**
   * When the run's backup window ends (absent: no window, the run goes on until it is done).
   * Databases are always backed up in full; the archive starts no new file after this instant
   * (files in flight finish, nothing is sent twice) and the run reports what is still pending
   * (`archive.pending` in the manifest): the next run goes on from there (docs/bandwidth.md, "Backup window").
   */
  windowEndsAt: z.iso.datetime().optional(),
});
export type BackupJob = z.infer<typeof backupJobSchema>;

/** Cloud → connector: an operator cancelled this run; stop it, abandon its uploads, report it failed. */
export const cancelJobSchema = z.object({
  type: z.literal('cancel-job'),
  v: z.literal(PROTOCOL_VERSION),
  runId: runIdSchema,
  reason: z.string().max(1000),
});
export type CancelJob = z.infer<typeof cancelJobSchema>;

/**
 * Connector → cloud: `so-connector restore` asks to read a validated run back: a run id, or the
 * newest validated run ("latest"), optionally the newest one at or before `at`.
 */
/** A restore request's id, chosen by the connector; its grant, and the renewals of the grant's credentials, name it. */
export const restoreRequestIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'a restore request id is 8-64 letters, digits, "_" or "-"');

export const restoreRequestSchema = z.object({
  type: z.literal('restore-request'),
  v: z.literal(PROTOCOL_VERSION),
  requestId: restoreRequestIdSchema,
  run: z.union([runIdSchema, z.literal('latest')]),
  at: z.iso.datetime().optional(),
  /** Who runs the restore on the customer's server (user@host), recorded with the run. */
  requestedBy: z.string().min(1).max(200),
  /**
   * What the restore needs, so that "latest" finds the newest run that kept it: a run whose other
   * database failed still kept its good parts. Absent (older connectors): any restorable run.
   */
  wants: z
    .object({
      database: z.string().min(1).max(128).optional(),
      anyDatabase: z.boolean().optional(),
      archive: z.boolean().optional(),
    })
    .optional(),
});
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

/** What reading a validated run back needs: the run, its manifest, and read-only credentials for the tenant's backups. */
const runReadAccess = {
  runId: runIdSchema,
  startedAt: z.iso.datetime(),
  manifest: z.object({ key: z.string().min(1).max(1024), versionId: z.string().min(1) }),
  target: uploadTargetSchema,
  credentials: uploadCredentialsSchema,
};

/** Cloud → connector: the run to restore, its manifest, and read-only credentials for the tenant's backups. */
export const restoreGrantSchema = z.object({
  type: z.literal('restore-grant'),
  v: z.literal(PROTOCOL_VERSION),
  requestId: z.string(),
  ...runReadAccess,
});
export type RestoreGrant = z.infer<typeof restoreGrantSchema>;

/** A restore drill's id, issued by the cloud. */
export const drillIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,80}$/, 'a drill id is 8-80 letters, digits, "_" or "-"');

/**
 * Cloud → connector: a restore drill. Restore the run's database backup to a scratch database,
 * check it (DBCC CHECKDB) and drop it; download a sample of archive files and check them. Proves
 * the backups restore, without touching anything live.
 */
export const drillJobSchema = z.object({
  type: z.literal('drill-job'),
  v: z.literal(PROTOCOL_VERSION),
  drillId: drillIdSchema,
  ...runReadAccess,
  /** Restore and check a database (when the server has the space for it). */
  database: z.boolean(),
  /**
   * Which of the manifest's databases to restore (the cloud rotates through them, one per drill);
   * absent (older clouds): the manifest's first.
   */
  databaseName: z.string().min(1).max(128).optional(),
  /** How many archive files to download and check. */
  sampleFiles: z.number().int().min(0).max(1000),
});
export type DrillJob = z.infer<typeof drillJobSchema>;

/** Connector → cloud: how the drill went. */
export const drillResultSchema = z.object({
  type: z.literal('drill-result'),
  v: z.literal(PROTOCOL_VERSION),
  /** The id of the drill-job this answers; the cloud records results only for drills it issued. */
  drillId: drillIdSchema,
  runId: runIdSchema,
  ok: z.boolean(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  database: z
    .object({
      /** The database restored (absent from older connectors). */
      name: z.string().min(1).max(128).optional(),
      status: z.enum(['checked', 'skipped', 'failed']),
      detail: z.string().max(2000),
      seconds: z.number().nonnegative(),
    })
    .optional(),
  archive: z
    .object({ sampled: z.number().int().nonnegative(), verified: z.number().int().nonnegative(), detail: z.string().max(2000).optional() })
    .optional(),
});
export type DrillResult = z.infer<typeof drillResultSchema>;
