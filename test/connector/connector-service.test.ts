import { BandwidthLimiter } from '../../connector/src/bandwidth';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { ConnectorService, type JobLink } from '../../connector/src/connector-service';
import { MssqlDatabaseServer } from '../../connector/src/sql';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import type { ConnectorMessage, ResultMessage } from '../../protocol';
import { connectorConfigFor, standInSql } from '../helpers/connector-config';
import { freePort } from '../helpers/test-ports';
import { MemoryObjectStore } from '../helpers/memory-object-store';
import { testBackupJob } from '../helpers/backup-job';

/** A link double: records what the service sends, and hands it jobs. */
class RecordingLink extends EventEmitter implements JobLink {
  readonly results: ResultMessage[] = [];
  readonly progress: ConnectorMessage[] = [];
  /** Like the real link: queued, then `whenQueued`, then sent (recorded here). */
  async deliver(result: ResultMessage, whenQueued?: () => Promise<void>) {
    await whenQueued?.();
    this.results.push(result);
  }
  sendIfConnected(message: ConnectorMessage) {
    this.progress.push(message);
    return true;
  }
  async hasQueuedResult(runId: string) {
    return this.results.some((r) => r.runId === runId);
  }
}

const login = { user: 'so_backup', password: 'Pw-Service-1' };
const job = testBackupJob;
const until = async (check: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error('timed out');
};

describe('ConnectorService', () => {
  let standIn: SqlServerStandIn;
  let port: number;
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-service-'));
  const archive = path.join(dir, 'SO_ARC');
  beforeAll(async () => {
    port = await freePort();
    standIn = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 8 << 20 }], backupChunkDelayMs: 60 });
    await standIn.start();
    mkdirSync(archive);
    writeFileSync(path.join(archive, 'a.txt'), 'a');
  });
  afterAll(() => standIn.stop());

  function service(link: RecordingLink, store: MemoryObjectStore) {
    const config = connectorConfigFor(dir, { sql: standInSql(port, login, dir), archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
    const databaseServer = new MssqlDatabaseServer(config.sql!.connectionString);
    return {
      svc: new ConnectorService({
        config,
        connectorVersion: 'test',
        link,
        logger: pino({ level: 'silent' }),
        databaseServer,
        openStore: () => store,
        progressIntervalMs: 0,
        firstProgressJitterMs: 0,
        bandwidth: new BandwidthLimiter({ config: '100 Mbit/s' }),
      }),
      databaseServer,
    };
  }

  test('GIVEN a running job WHEN the service stops THEN it is checkpointed, not reported; the next start resumes it and reports success once', async () => {
    const store = new MemoryObjectStore();
    const first = new RecordingLink();
    const a = service(first, store);
    first.emit('job', job('acme-2026-11-25-daily'));
    await until(() => first.progress.some((p) => p.type === 'progress' && p.phase === 'database'));
    // Progress carries the rate and the bandwidth limit in force.
    expect(first.progress.find((p) => p.type === 'progress')).toMatchObject({
      bytesPerSecond: expect.any(Number),
      limitBytesPerSecond: 12_500_000,
    });
    await a.svc.stop();
    await a.databaseServer.close();
    expect(first.results).toEqual([]);
    expect(existsSync(path.join(dir, 'state', 'job.json'))).toBe(true);

    const second = new RecordingLink();
    const b = service(second, store);
    expect(await b.svc.resumePending()).toBe('acme-2026-11-25-daily');
    await until(() => second.results.length > 0, 30_000);
    expect(second.results).toEqual([expect.objectContaining({ runId: 'acme-2026-11-25-daily', outcome: 'succeeded' })]);
    expect(existsSync(path.join(dir, 'state', 'job.json'))).toBe(false);
    await b.databaseServer.close();
  });

  test('GIVEN an interrupted job whose credentials expired WHEN the service starts THEN it reports the run failed instead of resuming', async () => {
    const link = new RecordingLink();
    const { svc, databaseServer } = service(link, new MemoryObjectStore());
    mkdirSync(path.join(dir, 'state'), { recursive: true });
    writeFileSync(path.join(dir, 'state', 'job.json'), JSON.stringify(job('acme-2026-11-26-daily', 30_000)));
    expect(await svc.resumePending()).toBeUndefined();
    expect(link.results).toEqual([
      expect.objectContaining({
        runId: 'acme-2026-11-26-daily',
        outcome: 'failed',
        error: expect.objectContaining({ code: 'CONNECTOR_RESTARTED' }),
      }),
    ]);
    await databaseServer.close();
  });

  test('GIVEN a finished job whose checkpoint survived a crash WHEN the service starts THEN it is not run again: its queued result stands', async () => {
    const link = new RecordingLink();
    const { svc, databaseServer } = service(link, new MemoryObjectStore());
    link.results.push({
      type: 'result',
      v: 1,
      runId: 'acme-2026-11-28-daily',
      outcome: 'failed',
      error: { code: 'X', message: 'queued before the crash' },
    });
    mkdirSync(path.join(dir, 'state'), { recursive: true });
    writeFileSync(path.join(dir, 'state', 'job.json'), JSON.stringify(job('acme-2026-11-28-daily')));
    expect(await svc.resumePending()).toBeUndefined();
    expect(existsSync(path.join(dir, 'state', 'job.json'))).toBe(false);
    expect(link.results).toHaveLength(1);
    await databaseServer.close();
  });

  test("GIVEN a job running WHEN another run's job arrives THEN it is refused as busy; a repeat of the running one is ignored", async () => {
    const link = new RecordingLink();
    const { svc, databaseServer } = service(link, new MemoryObjectStore());
    link.emit('job', job('acme-2026-11-27-daily'));
    link.emit('job', job('acme-2026-11-27-daily'));
    link.emit('job', job('acme-2026-11-27-support'));
    await until(() => link.results.length === 2, 30_000);
    expect(link.results.map((r) => [r.runId, r.outcome, r.outcome === 'failed' ? r.error.code : ''])).toEqual([
      ['acme-2026-11-27-support', 'failed', 'CONNECTOR_BUSY'],
      ['acme-2026-11-27-daily', 'succeeded', ''],
    ]);
    await svc.stop();
    await databaseServer.close();
  });

  test('GIVEN a job running WHEN the cloud cancels it THEN it stops at once, forgets its checkpoint and reports CANCELLED; a cancel for another run changes nothing', async () => {
    const link = new RecordingLink();
    const { svc, databaseServer } = service(link, new MemoryObjectStore());
    link.emit('job', job('acme-2026-11-29-operator'));
    await until(() => link.progress.some((p) => p.type === 'progress' && p.phase === 'database'));
    link.emit('cancel', { type: 'cancel-job', v: 1, runId: 'acme-2026-11-29-other', reason: 'not this one' });
    link.emit('cancel', { type: 'cancel-job', v: 1, runId: 'acme-2026-11-29-operator', reason: 'cancelled by sam: asked by mistake' });
    await until(() => link.results.length > 0, 10_000);
    expect(link.results).toEqual([
      expect.objectContaining({
        runId: 'acme-2026-11-29-operator',
        outcome: 'failed',
        error: { code: 'CANCELLED', message: 'the backup was cancelled: cancelled by sam: asked by mistake' },
      }),
    ]);
    expect(existsSync(path.join(dir, 'state', 'job.json'))).toBe(false);
    expect(svc.busyWith).toBeUndefined();
    await databaseServer.close();
  });
});
