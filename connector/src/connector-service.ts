import type { Logger } from 'pino';
import { type BackupJob, PROTOCOL_VERSION, SoBackupError } from '../../protocol';
import { runBackupJob, type JobProgress } from './backup';
import type { ConnectorConfig } from './config';
import type { Link } from './link/link';
import type { DatabaseServer } from './sql/database-server';
import type { ObjectStore } from './store/object-store';

export interface ConnectorServiceDeps {
  config: ConnectorConfig;
  connectorVersion: string;
  link: Link;
  logger: Logger;
  databaseServer?: DatabaseServer;
  openStore(job: BackupJob): ObjectStore;
  /** Minimum time between progress messages of the same phase. @default 5000 ms */
  progressIntervalMs?: number;
}

/**
 * The connector's main loop: takes jobs from the link one at a time, runs them, streams
 * throttled progress and delivers the result (queued across reconnects). A repeated job for the
 * running run is ignored; a job for another run while busy is refused with "busy".
 */
export class ConnectorService {
  private running?: { runId: string; abort: AbortController; done: Promise<void> };
  private readonly finished = new Set<string>();

  constructor(private readonly deps: ConnectorServiceDeps) {
    deps.link.on('job', (job) => this.onJob(job));
  }

  get busyWith(): string | undefined {
    return this.running?.runId;
  }

  private onJob(job: BackupJob): void {
    const { link, logger } = this.deps;
    if (this.running?.runId === job.runId || this.finished.has(job.runId)) {
      logger.info({ runId: job.runId }, 'job already taken; ignoring the repeat');
      return;
    }
    if (this.running) {
      void link.deliver({ type: 'result', v: PROTOCOL_VERSION, runId: job.runId, outcome: 'failed', error: { code: 'CONNECTOR_BUSY', message: `the connector is busy with run ${this.running.runId}` } });
      return;
    }
    const abort = new AbortController();
    const done = this.run(job, abort.signal).finally(() => {
      this.running = undefined;
      this.finished.add(job.runId);
    });
    this.running = { runId: job.runId, abort, done };
  }

  private async run(job: BackupJob, signal: AbortSignal): Promise<void> {
    const { link } = this.deps;
    const logger = this.deps.logger.child({ runId: job.runId });
    const interval = this.deps.progressIntervalMs ?? 5000;
    let lastSent = 0;
    let lastPhase = '';
    const report = (progress: JobProgress) => {
      const now = Date.now();
      if (progress.phase === lastPhase && now - lastSent < interval && progress.percent !== 100) return;
      lastSent = now;
      lastPhase = progress.phase;
      link.sendIfConnected({ type: 'progress', v: PROTOCOL_VERSION, runId: job.runId, ...progress, detail: progress.detail?.slice(0, 500) });
    };
    logger.info('backup job started');
    try {
      const manifest = await runBackupJob(job, {
        config: this.deps.config, connectorVersion: this.deps.connectorVersion, databaseServer: this.deps.databaseServer,
        store: this.deps.openStore(job), logger, report, signal,
      });
      await link.deliver({ type: 'result', v: PROTOCOL_VERSION, runId: job.runId, outcome: 'succeeded', manifest });
      logger.info({ manifest: manifest.key }, 'backup job succeeded');
    } catch (error) {
      const code = error instanceof SoBackupError ? error.code : 'CONNECTOR_ERROR';
      const message = error instanceof Error ? error.message : String(error);
      await link.deliver({ type: 'result', v: PROTOCOL_VERSION, runId: job.runId, outcome: 'failed', error: { code, message: message.slice(0, 4000) } });
      logger.error({ code, err: message }, 'backup job failed');
    }
  }

  /** Stops taking jobs; cancels the running one and waits for it to wind down. */
  async stop(): Promise<void> {
    this.running?.abort.abort();
    await this.running?.done;
  }
}
