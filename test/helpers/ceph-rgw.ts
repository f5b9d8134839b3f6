import { type S3Key, startCephRgw as startCluster } from '../../local/ceph-rgw';
import { runScript } from '../../local/daemons';

/**
 * Runs scripts/ceph-rgw.sh with args (`start DIR PORT MONITOR_PORT`, `stop DIR`, `lc-process DIR`),
 * env added to this process's; returns its stdout.
 * @throws Error with the script's output when it fails
 */
export function cephRgw(args: string[], env: NodeJS.ProcessEnv = {}): string {
  return runScript('ceph-rgw.sh', args, env);
}

/** Starts a Ceph cluster in dir with RGW on 127.0.0.1:port and its monitor on monitorPort; returns the bucket owner's S3 key (made by RGW). */
export function startCephRgw(dir: string, ports: { port: number; monitorPort: number }, env: NodeJS.ProcessEnv = {}): S3Key {
  return startCluster(dir, { s3: ports.port, mon: ports.monitorPort }, env);
}
