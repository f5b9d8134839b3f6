import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { bandwidthSettingSchema, type BandwidthSetting } from '../../../protocol';
import { BandwidthLimiter, type BandwidthLimiterOptions } from './bandwidth-limiter';

const FILE = 'tenant-settings.json';

const fileSchema = z.object({
  bandwidth: bandwidthSettingSchema.nullable(),
  /** When the cloud sent it. */
  receivedAt: z.iso.datetime(),
});
export type TenantSettings = z.infer<typeof fileSchema>;

/**
 * The tenant's settings as the cloud last sent them, kept in `stateDir` so that a restart, a
 * restore (`so-connector restore`) and `doctor` use them before (or without) a connection.
 * Undefined when none was received yet, or the file is unreadable (then the next connection
 * brings them again).
 */
export async function readTenantSettings(stateDir: string): Promise<TenantSettings | undefined> {
  try {
    const parsed = fileSchema.safeParse(JSON.parse(await readFile(path.join(stateDir, FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the settings whole (a temporary file renamed over the old one), so a crash never leaves half of them. */
export async function writeTenantSettings(stateDir: string, bandwidth: BandwidthSetting | null, receivedAt = new Date()): Promise<void> {
  const target = path.join(stateDir, FILE);
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ bandwidth, receivedAt: receivedAt.toISOString() } satisfies TenantSettings, null, 2)}\n`, {
    mode: 0o600,
  });
  await rename(temporary, target);
}

/** The process's limiter: the configuration file's setting and the tenant's as last received (kept in stateDir). */
export async function loadBandwidthLimiter(
  config: { bandwidth?: BandwidthSetting; stateDir: string },
  options: Omit<BandwidthLimiterOptions, 'config' | 'tenant'> = {},
): Promise<BandwidthLimiter> {
  const tenant = await readTenantSettings(config.stateDir);
  return new BandwidthLimiter({ ...options, config: config.bandwidth, tenant: tenant?.bandwidth ?? null });
}
