import { runScript } from '../../local/daemons';

/**
 * Runs scripts/ceph-rgw.sh with args (`start DIR PORT MONITOR_PORT ACCESS_KEY SECRET_KEY`,
 * `stop DIR`, `lc-process DIR`), env added to this process's; returns its stdout.
 * @throws Error with the script's output when it fails
 */
export function cephRgw(args: string[], env: NodeJS.ProcessEnv = {}): string {
  return runScript('ceph-rgw.sh', args, env);
}

/** Starts a Ceph cluster in dir with RGW on 127.0.0.1:port, its monitor on monitorPort, and an S3 user with keys. */
export function startCephRgw(
  dir: string,
  ports: { port: number; monitorPort: number },
  keys: { accessKeyId: string; secretAccessKey: string },
  env: NodeJS.ProcessEnv = {},
): string {
  return cephRgw(['start', dir, String(ports.port), String(ports.monitorPort), keys.accessKeyId, keys.secretAccessKey], env);
}
