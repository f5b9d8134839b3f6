import { createServer } from 'node:net';
import { assertOutsideEphemeral } from '../../local/ports';

/**
 * Every port a test binds, below the kernel's ephemeral range (see local/ports.ts). The base comes
 * from SO_BACKUP_TEST_PORT_BASE (default 20000), so that several checkouts can run their tests side
 * by side with different bases. Layout from the base:
 *   +0 … +999      fixed blocks of 100 for local-mode instances and Ceph clusters (TEST_PORT_BLOCKS)
 *   +1000 … +2999  ports handed out one at a time by freePort(), a slice of 250 per jest worker
 */
export const TEST_PORT_BASE = Number(process.env.SO_BACKUP_TEST_PORT_BASE ?? 20_000);
const SPAN = 3000;
assertOutsideEphemeral(TEST_PORT_BASE, SPAN, `the tests (SO_BACKUP_TEST_PORT_BASE=${TEST_PORT_BASE})`);

/** Fixed blocks of 100 ports each, one per test that starts local mode or a Ceph cluster. */
export const TEST_PORT_BLOCKS = {
  localModeE2e: TEST_PORT_BASE,
  localModeCutE2e: TEST_PORT_BASE + 100,
  operateE2e: TEST_PORT_BASE + 200,
  retentionRgw: TEST_PORT_BASE + 300,
  s3ObjectStoreRgw: TEST_PORT_BASE + 400,
  archiveRoundTripE2e: TEST_PORT_BASE + 500,
  iamOnRgw: TEST_PORT_BASE + 600,
  cephxUpgrade: TEST_PORT_BASE + 700,
  /** scripts/windows-e2e.sh (local mode for the connector under Wine, not a jest test): it computes base + 900 itself; the top block, clear of new ones. */
  windowsE2e: TEST_PORT_BASE + 900,
} as const;

const SLICE = 250;
const worker = Math.max(1, Number(process.env.JEST_WORKER_ID ?? 1));
const sliceStart = TEST_PORT_BASE + 1000 + ((worker - 1) % 8) * SLICE;
let next = 0;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on 127.0.0.1 now, from this jest worker's own slice (never the kernel's
 * ephemeral range, never another worker's port).
 * @throws Error when the whole slice is taken.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < SLICE; tried++) {
    const port = sliceStart + (next++ % SLICE);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}–${sliceStart + SLICE - 1} (SO_BACKUP_TEST_PORT_BASE=${TEST_PORT_BASE})`);
}
