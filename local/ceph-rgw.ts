import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { runScript } from './daemons';

/** An S3 access key of RGW (the bucket owner's). */
export interface S3Key {
  accessKeyId: string;
  secretAccessKey: string;
}

const ownerKeySchema = z.object({ accessKeyId: z.string().min(16), secretAccessKey: z.string().min(16) }).strict();

/**
 * The bucket owner's S3 key of the Ceph cluster in cephDir: made by RGW when scripts/ceph-rgw.sh
 * first starts the cluster (or replaces the constant key an earlier version gave it on the command
 * line), kept in `<cephDir>/owner-key.json`, mode 0600.
 * @throws Error naming the file when it is missing or not such a key (start the cluster first).
 */
export function rgwOwnerKey(cephDir: string): S3Key {
  const file = path.join(cephDir, 'owner-key.json');
  try {
    return ownerKeySchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new Error(
      `${file} does not hold the RGW bucket owner's key (${(error as Error).message.split('\n')[0]}): start the cluster with scripts/ceph-rgw.sh start`,
    );
  }
}

/**
 * Starts (or reuses) the Ceph cluster in cephDir with RGW on 127.0.0.1:ports.s3 and its monitor on
 * ports.mon (scripts/ceph-rgw.sh; env adds e.g. SO_BACKUP_RGW_TLS_DIR) and returns its bucket owner's key.
 * @throws Error with the script's output when the cluster does not start
 */
export function startCephRgw(cephDir: string, ports: { s3: number; mon: number }, env: NodeJS.ProcessEnv = {}): S3Key {
  runScript('ceph-rgw.sh', ['start', cephDir, String(ports.s3), String(ports.mon)], env);
  return rgwOwnerKey(cephDir);
}
