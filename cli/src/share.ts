import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { CliError, EXIT, usageError } from './cli-error';
import { artifactsOf, readManifest, requireRun } from './backups';
import { restorableManifest } from '../../core';
import type { Fleet } from './fleet';

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_SHARE_SECONDS = 7 * 86_400;

/** "72h", "3d", "90m" → seconds. */
export function parseExpiry(text: string): number {
  const match = /^(\d+)\s*([mhd])$/.exec(text.trim());
  if (!match) throw usageError(`--expires "${text}" is not a duration: give minutes, hours or days, e.g. 90m, 72h or 7d`);
  const seconds = Number(match[1]) * { m: 60, h: 3600, d: 86_400 }[match[2] as 'm' | 'h' | 'd'];
  if (seconds < 60) throw usageError('--expires must be at least 1 minute');
  if (seconds > MAX_SHARE_SECONDS) {
    throw usageError(
      `--expires ${text} is longer than S3 allows: a presigned link lives at most 7 days (7d or 168h); share again when it runs out`,
    );
  }
  return seconds;
}

/**
 * Time-limited download links to a validated run's artifacts, recorded with the run: who shared,
 * why, when and until when. A link never outlives the credentials that sign it, so an expiry
 * beyond them is refused rather than silently shortened.
 */
export async function shareRun(fleet: Fleet, runId: string, options: { expires: string; reason?: string; now?: Date }) {
  const seconds = parseExpiry(options.expires);
  const now = options.now ?? new Date();
  const run = await requireRun(fleet, runId);
  const validated = restorableManifest(run);
  if (!validated)
    throw new CliError(`run ${runId} is ${run.status} and kept no validated backup: only validated backups can be shared`, EXIT.failed);
  const expiresAt = new Date(now.getTime() + seconds * 1000);
  const credentialsEnd = await fleet.credentialsExpireAt();
  if (credentialsEnd && credentialsEnd < expiresAt) {
    throw new CliError(
      `a link valid until ${expiresAt.toISOString()} cannot be honoured: it is signed with your credentials, which expire at ${credentialsEnd.toISOString()}, and stops working then. ` +
        `Give --expires ${Math.max(1, Math.floor((credentialsEnd.getTime() - now.getTime()) / 3_600_000))}h or less, or share with longer-lived credentials (an IAM user's keys, or a role session of up to 12 h)`,
      EXIT.usage,
    );
  }
  const manifest = await readManifest(fleet, validated);
  const artifacts = artifactsOf(manifest).filter((a) => a.kind === 'database');
  if (artifacts.length === 0) throw new CliError(`run ${runId} kept no validated database backup to share`, EXIT.failed);
  const links = await Promise.all(
    artifacts.map(async (artifact) => ({
      ...artifact,
      url: await getSignedUrl(
        fleet.s3,
        new GetObjectCommand({
          Bucket: fleet.outputs.BackupBucketName,
          Key: artifact.key,
          VersionId: artifact.versionId,
          ResponseContentDisposition: attachment(`${runId}-${artifact.name}.bak`),
        }),
        { expiresIn: seconds },
      ),
    })),
  );
  const share = {
    by: await fleet.caller(),
    reason: options.reason,
    at: now.toISOString(),
    expiresAt: expiresAt.toISOString(),
    keys: links.map((l) => l.key),
  };
  await fleet.runs.addShare(runId, share);
  return { runId, ...share, links };
}

/**
 * A Content-Disposition that any database name survives (quotes, non-Latin letters, characters
 * Windows does not allow in file names): an ASCII fallback and the exact name in RFC 5987
 * encoding (RFC 6266, section 4.3).
 */
export function attachment(fileName: string): string {
  // eslint-disable-next-line no-control-regex
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\<>:/|?*]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
