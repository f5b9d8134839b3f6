import { z } from 'zod';
import { runIdSchema, tenantIdSchema, wireErrorSchema } from './envelope';
import { RETENTION_TIERS } from './key-layout';
import { manifestPointerSchema } from './result';

const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 is 64 lower-case hex digits');
const sha256Base64Schema = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a SHA-256 in base64 is 44 characters');

/**
 * The checksum S3 itself computed and stores for an object. A single PUT stores the SHA-256 of
 * the whole object (FULL_OBJECT); a multipart upload stores the SHA-256 of the concatenated part
 * digests with a "-N" suffix (COMPOSITE), so the part digests are recorded to let a reader
 * recompute it.
 */
export const s3ChecksumSchema = z.discriminatedUnion('type', [
  z.object({ algorithm: z.literal('SHA256'), type: z.literal('FULL_OBJECT'), value: sha256Base64Schema }),
  z.object({
    algorithm: z.literal('SHA256'),
    type: z.literal('COMPOSITE'),
    value: z.string().regex(/^[A-Za-z0-9+/]{43}=-\d+$/),
    partSize: z.number().int().positive(),
    parts: z.array(sha256Base64Schema).min(1).max(10_000),
  }),
]);
export type S3Checksum = z.infer<typeof s3ChecksumSchema>;

/** One object the run wrote, pinned to the exact version. */
export const artifactSchema = z.object({
  key: z.string().min(1).max(1024),
  versionId: z.string().min(1),
  size: z.number().int().nonnegative(),
  /** SHA-256 of the whole content, as the connector read it. */
  sha256: sha256HexSchema,
  s3Checksum: s3ChecksumSchema,
});
export type Artifact = z.infer<typeof artifactSchema>;

export const databaseBackupSchema = z.object({
  database: z.string().min(1).max(128),
  artifact: artifactSchema,
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  copyOnly: z.literal(true),
  checksums: z.literal(true),
  compressed: z.boolean(),
  edition: z.string().max(200),
  serverVersion: z.string().max(200),
  /** What SQL Server recorded for this backup (RESTORE HEADERONLY facts); the .bak passed RESTORE VERIFYONLY WITH CHECKSUM. */
  header: z.object({
    serverName: z.string().max(256),
    firstLsn: z.string().regex(/^\d{1,25}$/),
    lastLsn: z.string().regex(/^\d{1,25}$/),
    backupSize: z.number().int().nonnegative(),
    verified: z.literal(true),
  }),
  /**
   * Transparent Data Encryption: the backup holds encrypted pages, so a restore needs this
   * certificate (with its private key) on the target server. `privateKeyBackedUpAt` is when
   * its private key was last backed up (sys.certificates.pvt_key_last_backup_date), if ever.
   */
  tde: z
    .object({
      certificate: z.string().max(128).optional(),
      thumbprint: z.string().max(64).optional(),
      encryptorType: z.string().max(60).optional(),
      privateKeyBackedUpAt: z.iso.datetime().optional(),
    })
    .optional(),
  /** What the operator should know (read-only, availability group secondary, TDE); not a problem. */
  notes: z.array(z.string().max(1000)).max(20).optional(),
  /** What needs doing (a TDE certificate never backed up): the run ends SUCCEEDED_WITH_WARNINGS. */
  warnings: z.array(z.string().max(1000)).max(20).optional(),
  /**
   * Only in promoted (tier) manifests: this database failed in the manifest's run, and this is
   * its latest validated backup, from the run named here, carried forward so that it stays named
   * by the newest manifests and is never expired (docs/retention.md). Never set by a connector.
   */
  carriedFrom: runIdSchema.optional(),
});
export type DatabaseBackup = z.infer<typeof databaseBackupSchema>;

/** Paths below a root: the text, and its exact bytes (base64) when the text is not exact (archive-path.ts). */
const archivePathFields = {
  root: z.string().min(1),
  /** "/"-separated path below the root as text, never normalized; U+FFFD where the name is not UTF-8. */
  path: z.string().min(1).max(100_000),
  /** The exact bytes of the path, base64, present only when they are not valid UTF-8 (Linux: any bytes; Windows: WTF-8). */
  pathBytes: z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/)
    .max(140_000)
    .optional(),
};

/** Nanoseconds since 1970-01-01 UTC as a decimal integer: exact where a double's milliseconds are not (NTFS keeps 100 ns, ext4 1 ns). */
export const nanosecondsSchema = z.string().regex(/^-?\d{1,20}$/, 'nanoseconds are a decimal integer');

/** File attributes that matter on Windows (the read-only attribute is also a file without write permission on Linux). */
export const fileAttributesSchema = z.object({ readOnly: z.literal(true).optional(), hidden: z.literal(true).optional() }).strict();
export type FileAttributes = z.infer<typeof fileAttributesSchema>;

/** POSIX permission bits (st_mode & 07777), recorded where they are real (Linux; Windows' mode is made up by Node). */
export const posixModeSchema = z.number().int().min(0).max(0o7777);

/** One file of the archive as it was at this run, pinned to its S3 version. */
export const snapshotFileSchema = z.object({
  ...archivePathFields,
  key: z.string().min(1).max(1024),
  versionId: z.string().min(1),
  size: z.number().int().nonnegative(),
  /** Modification time in milliseconds (a double: about 0.25 µs precision today); `mtimeNs` is exact. */
  mtimeMs: z.number(),
  /** Modification time, exact; absent in snapshots of older connectors. */
  mtimeNs: nanosecondsSchema.optional(),
  /** Only attributes that are set. */
  attributes: fileAttributesSchema.optional(),
  /** POSIX permission bits (Linux; absent from Windows and from older connectors). */
  mode: posixModeSchema.optional(),
  sha256: sha256HexSchema,
  /** True when this run made the version (uploaded it, or copied it inside S3 after a rename); false when an earlier version stands. */
  uploaded: z.boolean(),
  /** Only for files uploaded in parts, whose S3 checksum is COMPOSITE rather than the file's SHA-256. */
  s3Checksum: s3ChecksumSchema.optional(),
});
export type SnapshotFile = z.infer<typeof snapshotFileSchema>;

/**
 * A folder: S3 has no folders, so the snapshot lists the empty ones (`emptyFolders`), to be made
 * again, and every one with its time and mode (`folders`), which the folders a restore makes get.
 */
export const snapshotFolderSchema = z.object({
  ...archivePathFields,
  /** Modification time, exact (absent in `emptyFolders`, and from older connectors). */
  mtimeNs: nanosecondsSchema.optional(),
  /** POSIX permission bits (Linux). */
  mode: posixModeSchema.optional(),
});
export type SnapshotFolder = z.infer<typeof snapshotFolderSchema>;

/**
 * A symbolic link (or, on Windows, a junction), recorded as a link and never followed: what it
 * points to is stored as text, exactly as the link holds it. `kind` says what it pointed to when
 * the run saw it (a dangling link counts as "file"), which Windows needs to create it again.
 */
export const snapshotLinkSchema = z.object({
  ...archivePathFields,
  target: z.string().min(1).max(100_000),
  /** The exact bytes of the target, base64, when they are not valid UTF-8. */
  targetBytes: z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/)
    .max(140_000)
    .optional(),
  kind: z.enum(['file', 'dir']),
});
export type SnapshotLink = z.infer<typeof snapshotLinkSchema>;

export const archiveSnapshotSchema = z.object({
  kind: z.literal('so-backup-archive-snapshot'),
  v: z.literal(1),
  runId: runIdSchema,
  files: z.array(snapshotFileSchema),
  emptyFolders: z.array(snapshotFolderSchema).default([]),
  /** Every folder below the roots with its time and mode (absent from older connectors' snapshots). */
  folders: z.array(snapshotFolderSchema).default([]),
  /** Symbolic links and junctions, recorded as links (docs/archive.md, "Links"). */
  links: z.array(snapshotLinkSchema).default([]),
});
export type ArchiveSnapshot = z.infer<typeof archiveSnapshotSchema>;

/** A file (or folder) the run could not read consistently, and why. */
export const skippedFileSchema = z.object({ root: z.string().min(1), path: z.string().min(1).max(4096), reason: z.string().max(300) });
export type SkippedFile = z.infer<typeof skippedFileSchema>;

export const archiveSummarySchema = z.object({
  roots: z.array(z.object({ name: z.string().min(1), path: z.string().min(1) })),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  uploadedFiles: z.number().int().nonnegative(),
  uploadedBytes: z.number().int().nonnegative(),
  /**
   * Of the files sent (uploadedFiles), those that were pending when the previous run's backup
   * window ended — the seeding's backlog — and their bytes. It tells progress on the backlog from
   * changes of the day sent again and new files (core/seeding.ts). Absent: a connector that did not
   * know the previous run's pending files (an older one, or its state folder lost).
   */
  backlogSent: z.object({ files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }).optional(),
  deletedFiles: z.number().int().nonnegative(),
  /** Of the uploaded files, those copied inside S3 from their old name (renamed or moved), not sent again. */
  copiedFiles: z.number().int().nonnegative().default(0),
  /** How many files were skipped (locked, changing, unreadable); the first 1,000 are listed. */
  skippedFiles: z.number().int().nonnegative().default(0),
  skipped: z.array(skippedFileSchema).max(1000).default([]),
  /** Symbolic links and junctions recorded as links in the snapshot (not followed). */
  links: z.number().int().nonnegative().optional(),
  /** Files the run opened (to send them, or to compare their content); an unchanged file is never read. */
  readFiles: z.number().int().nonnegative().optional(),
  /** The gzip-compressed JSON snapshot (archiveSnapshotSchema) of every file at this run. */
  snapshot: artifactSchema,
  /**
   * Present when the backup window ended before every new or changed file was sent (seeding a
   * large archive over several nights): the files and bytes not yet in S3 at their current
   * content. The snapshot holds the rest (`files`, `bytes`), and for a changed file not yet sent
   * its last version; the next run goes on from there. Done = files / (files + pending.files).
   */
  pending: z
    .object({
      files: z.number().int().positive(),
      bytes: z.number().int().nonnegative(),
      /** Why the run stopped early: its backup window ended. */
      reason: z.literal('window'),
      /**
       * Of `bytes`, those already in S3 as whole parts of large files whose multipart upload
       * paused between parts at the window's end (kept for the next run, which does not send them
       * again). Not versions yet: in neither `bytes` nor `uploadedBytes`. Absent: none.
       */
      partsBytes: z.number().int().positive().optional(),
    })
    .refine((pending) => (pending.partsBytes ?? 0) <= pending.bytes, {
      message: 'pending.partsBytes (bytes of pending files already in S3 as parts) cannot exceed pending.bytes',
      path: ['partsBytes'],
    })
    .optional(),
  /** Only in promoted manifests: the archive failed in the manifest's run; this is the latest validated one, from this run (see databases' `carriedFrom`). */
  carriedFrom: runIdSchema.optional(),
});
export type ArchiveSummary = z.infer<typeof archiveSummarySchema>;

/**
 * A database or the archive that this run could not back up, and why (each is its own artifact:
 * one that fails never costs the others, but the run ends FAILED and is alarmed on).
 */
export const artifactFailureSchema = z.object({
  kind: z.enum(['database', 'archive']),
  /** The database's name, or the archive roots' names. */
  name: z.string().min(1).max(1000),
  error: wireErrorSchema,
});
export type ArtifactFailure = z.infer<typeof artifactFailureSchema>;

/** Written last by the connector; the validator trusts none of it without checking S3. */
export const manifestSchema = z.object({
  kind: z.literal('so-backup-manifest'),
  v: z.literal(1),
  runId: runIdSchema,
  tenantId: tenantIdSchema,
  connectorVersion: z.string().max(50),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  databases: z.array(databaseBackupSchema),
  archive: archiveSummarySchema.optional(),
  /** What the run could not back up (absent in manifests of older connectors: nothing failed). */
  failures: z.array(artifactFailureSchema).max(1000).optional(),
  /**
   * Set on promoted copies: the tier, and the manifest they came from. A daily manifest comes
   * from the run's staged manifest and names only what validated; weekly and monthly ones come
   * from the validated daily manifest.
   */
  tier: z.enum(RETENTION_TIERS).optional(),
  promotedFrom: manifestPointerSchema.optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;
