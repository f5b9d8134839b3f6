import { z } from 'zod';
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
