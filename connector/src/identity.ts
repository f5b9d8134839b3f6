import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { tenantIdSchema } from '../../protocol';
import { ConfigError } from './errors';

const keySchema = z.object({ keyId: z.string().min(1), privateKeyPem: z.string().includes('PRIVATE KEY'), createdAt: z.iso.datetime() });

/**
 * The connector's identity: its tenant and Ed25519 private key (never leaves this file), plus a
 * pending key during rotation. Written atomically with mode 0600 (service account only).
 */
export const identitySchema = z
  .object({
    tenantId: tenantIdSchema,
    current: keySchema,
    /** A rotated key; `registered` once the cloud has it, after which the connector connects with it. */
    pending: keySchema.extend({ registered: z.boolean() }).optional(),
  })
  .strict();
export type ConnectorIdentity = z.infer<typeof identitySchema>;

export async function loadIdentity(file: string): Promise<ConnectorIdentity> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `cannot read the identity file ${file}: ${(cause as Error).message}. Enrol the connector first: so-connector enrol …`,
      { cause },
    );
  }
  const parsed = identitySchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new ConfigError(`the identity file ${file} is damaged: ${z.prettifyError(parsed.error)}. Enrol the connector again.`);
  return parsed.data;
}

export async function saveIdentity(file: string, identity: ConnectorIdentity): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(identity, null, 2), { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}
