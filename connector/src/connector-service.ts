import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  type BackupJob,
  type CancelJob,
  type ConnectorMessage,
  type DrillJob,
  type DrillResult,
  encodeMessage,
  MESSAGE_BUDGET,
  parseMessage,
  PROTOCOL_VERSION,
  type ResultMessage,
  SoBackupError,
} from '../../protocol';
import type { BandwidthLimiter } from './bandwidth';
import { runBackupJob, type JobProgress } from './backup';
import type { ConnectorConfig } from './config';
import type { DatabaseServer } from './sql/database-server';
import type { ObjectStore } from './store/object-store';
import { SHUTDOWN } from './store/s3-object-store';

/** The parts of the link the service uses (a double in tests). */
export interface JobLink {
  on(event: 'job', listener: (job: BackupJob) => void): unknown;
  on(event: 'cancel', listener: (cancel: CancelJob) => void): unknown;
  on(event: 'drill', listener: (drill: DrillJob) => void): unknown;
  /** Queues the result on disk, runs `whenQueued`, then sends it. */
  deliver(result: ResultMessage, whenQueued?: () => Promise<void>): Promise<void>;
  sendIfConnected(message: ConnectorMessage): boolean;
  /** True when a result for the run waits in the outbox (the job finished). */
  hasQueuedResult(runId: string): Promise<boolean>;
}

export interface ConnectorServiceDeps {
  config: ConnectorConfig;
  connectorVersion: string;
  link: JobLink;
  logger: Logger;
  databaseServer?: DatabaseServer;
  openStore(job: BackupJob): ObjectStore;
  /** Runs a restore drill (restore-drill.ts); without it, drills are skipped. */
  runDrill?(drill: DrillJob): Promise<DrillResult>;
  /**
   * Minimum time between progress messages of a job, whatever its phase: each one costs a
   * message against the stage's shared throttle, a Lambda call and a write, and the run's
   * heartbeat timeout is 10 min. The first one waits a random delay up to `firstProgressJitterMs`
   * so that jobs started together do not report together. @default MESSAGE_BUDGET (240 s, 90 s)
   */
  progressIntervalMs?: number;
  /** The process's bandwidth limit, reported with progress (rate achieved and limit in force). */
  bandwidth?: Pick<BandwidthLimiter, 'upload'>;
  firstProgressJitterMs?: number;
}

/** A job whose credentials expire sooner than this is not resumed. */
const RESUME_MARGIN_MS = 2 * 60_000;

/**
 * The connector's main loop: takes jobs from the link one at a time, runs them, streams
 * throttled progress and delivers the result (queued across reconnects). A repeated job for the
 * running run is ignored; a job for another run while busy is refused with "busy". The running
 * job is kept on disk: a service stop checkpoints it (no result is reported) and the next start
 * resumes it, reusing a verified staging file and the parts S3 already has.
 */
export class ConnectorService extends EventEmitter<{ 'work-ended': [] }> {
  private running?: { runId: string; abort: AbortController; done: Promise<void> };
  private drilling = false;
  private readonly finished = new Set<string>();
  private readonly jobFile: string;

  constructor(private readonly deps: ConnectorServiceDeps) {
    super();
    this.jobFile = path.join(deps.config.stateDir, 'job.json');
    deps.link.on('job', (job) => this.onJob(job));
    deps.link.on('cancel', (cancel) => this.onCancel(cancel));
    deps.link.on('drill', (drill) => void this.onDrill(drill));
  }

  get busyWith(): string | undefined {
    return this.running?.runId;
  }

  /** A backup job or a restore drill runs; 'work-ended' is emitted when one ends. */
  get busy(): boolean {
    return this.running !== undefined || this.drilling;
  }

  /** Resumes a job a stop or crash interrupted, if its credentials are still good; else reports it failed. */
  async resumePending(now = Date.now()): Promise<string | undefined> {
    let job: BackupJob;
    try {
      const message = parseMessage('cloud', await readFile(this.jobFile, 'utf8'));
      if (message.type !== 'backup-job') return undefined;
      job = message;
    } catch {
      return undefined;
    }
    if (await this.deps.link.hasQueuedResult(job.runId)) {
      // The job finished and its result is queued (a crash came before its checkpoint was removed).
      await this.forgetJob();
      return undefined;
    }
    if (Date.parse(job.credentials.expiration) - now < RESUME_MARGIN_MS) {
      await rm(this.jobFile, { force: true });
      await this.deps.link.deliver({
        type: 'result',
        v: PROTOCOL_VERSION,
        runId: job.runId,
        outcome: 'failed',
        error: {
          code: 'CONNECTOR_RESTARTED',
          message: "the connector restarted and the job's upload credentials have expired; the next run will take a new backup",
        },
      });
      return undefined;
    }
    this.deps.logger.info({ runId: job.runId }, 'resuming the job interrupted by a stop or crash');
    this.start(job);
    return job.runId;
  }

  private onJob(job: BackupJob): void {
    const { link, logger } = this.deps;
    if (this.running?.runId === job.runId || this.finished.has(job.runId)) {
      logger.info({ runId: job.runId }, 'job already taken; ignoring the repeat');
      return;
    }
    if (this.running) {
      void link.deliver({
        type: 'result',
        v: PROTOCOL_VERSION,
        runId: job.runId,
        outcome: 'failed',
        error: { code: 'CONNECTOR_BUSY', message: `the connector is busy with run ${this.running.runId}` },
      });
      return;
    }
    this.start(job);
  }

  /**
   * A restore drill, when nothing else runs: a backup always wins (a drill asked for while one
   * runs is skipped and asked for again later). Its result is sent, not queued: the cloud asks
   * again when none arrives.
   */
  private async onDrill(drill: DrillJob): Promise<void> {
    const { logger, link, runDrill } = this.deps;
    if (!runDrill || this.running || this.drilling) {
      logger.info({ drillId: drill.drillId, busyWith: this.running?.runId }, 'restore drill skipped: busy');
      return;
    }
    this.drilling = true;
    try {
      logger.info({ drillId: drill.drillId, runId: drill.runId }, 'restore drill started');
      const result = await runDrill(drill);
      link.sendIfConnected(result);
      logger[result.ok ? 'info' : 'error'](
        { drillId: drill.drillId, ok: result.ok, database: result.database, archive: result.archive },
        'restore drill finished',
      );
    } catch (error) {
      const now = new Date().toISOString();
      link.sendIfConnected({
        type: 'drill-result',
        v: PROTOCOL_VERSION,
        drillId: drill.drillId,
        runId: drill.runId,
        ok: false,
        startedAt: now,
        finishedAt: now,
        archive: { sampled: 0, verified: 0, detail: (error as Error).message.slice(0, 2000) },
      });
      logger.error({ drillId: drill.drillId, err: (error as Error).message }, 'restore drill failed');
    } finally {
      this.drilling = false;
      this.emit('work-ended');
    }
  }

  /** An operator cancelled the run: stop it; its multipart uploads are aborted and it reports failed. */
  private onCancel(cancel: CancelJob): void {
    if (this.running?.runId !== cancel.runId) {
      this.deps.logger.info({ runId: cancel.runId }, 'cancel for a run that is not running here; nothing to stop');
      return;
    }
    this.deps.logger.warn({ runId: cancel.runId, reason: cancel.reason }, 'backup job cancelled by the cloud');
    this.running.abort.abort(new SoBackupError('CANCELLED', `the backup was cancelled: ${cancel.reason}`));
  }

  private start(job: BackupJob): void {
    const abort = new AbortController();
    const done = this.run(job, abort.signal).finally(() => {
      this.running = undefined;
      this.finished.add(job.runId);
      this.emit('work-ended');
    });
    this.running = { runId: job.runId, abort, done };
  }

  private async run(job: BackupJob, signal: AbortSignal): Promise<void> {
    const { link } = this.deps;
    const logger = this.deps.logger.child({ runId: job.runId });
    const interval = this.deps.progressIntervalMs ?? MESSAGE_BUDGET.progressIntervalSeconds * 1000;
    const jitter = this.deps.firstProgressJitterMs ?? MESSAGE_BUDGET.firstProgressJitterSeconds * 1000;
    let nextAllowed = Date.now() + Math.random() * jitter;
    const report = (progress: JobProgress) => {
      const now = Date.now();
      if (now < nextAllowed) return;
      nextAllowed = now + interval;
      const upload = this.deps.bandwidth?.upload;
      const rate = upload ? { bytesPerSecond: Math.round(upload.achievedRate()), limitBytesPerSecond: upload.bytesPerSecond } : {};
      link.sendIfConnected({
        type: 'progress',
        v: PROTOCOL_VERSION,
        runId: job.runId,
        ...progress,
        ...rate,
        detail: progress.detail?.slice(0, 500),
      });
    };
    await this.saveJob(job);
    logger.info('backup job started');
    try {
      const manifest = await runBackupJob(job, {
        config: this.deps.config,
        connectorVersion: this.deps.connectorVersion,
        databaseServer: this.deps.databaseServer,
        store: this.deps.openStore(job),
        logger,
        report,
        signal,
        uploadRate: this.deps.bandwidth ? () => this.deps.bandwidth!.upload.bytesPerSecond : undefined,
      });
      // The checkpoint goes once the result is safe on disk: a crash then resends the result
      // rather than running the whole job again.
      await link.deliver({ type: 'result', v: PROTOCOL_VERSION, runId: job.runId, outcome: 'succeeded', manifest }, () => this.forgetJob());
      logger.info({ manifest: manifest.key }, 'backup job succeeded');
    } catch (error) {
      if (signal.aborted && signal.reason === SHUTDOWN) {
        logger.info('job checkpointed for the next start');
        return; // job.json stays: the next start resumes it
      }
      // A cancelled job fails with the cancellation, whatever the aborted step threw.
      const failure: unknown = signal.aborted && signal.reason instanceof SoBackupError ? signal.reason : error;
      const code = failure instanceof SoBackupError ? failure.code : 'CONNECTOR_ERROR';
      const message = failure instanceof Error ? failure.message : String(failure);
      await link.deliver(
        { type: 'result', v: PROTOCOL_VERSION, runId: job.runId, outcome: 'failed', error: { code, message: message.slice(0, 4000) } },
        () => this.forgetJob(),
      );
      logger.error({ code, err: message }, 'backup job failed');
    }
  }

  private async forgetJob(): Promise<void> {
    await rm(this.jobFile, { force: true });
  }

  private async saveJob(job: BackupJob): Promise<void> {
    await mkdir(path.dirname(this.jobFile), { recursive: true });
    const temporary = `${this.jobFile}.tmp`;
    await writeFile(temporary, encodeMessage(job), { mode: 0o600 }); // holds short-lived credentials
    await rename(temporary, this.jobFile);
  }

  /** Service stop: the running job is checkpointed (not reported failed) and resumed at the next start. */
  async stop(): Promise<void> {
    this.running?.abort.abort(SHUTDOWN);
    await this.running?.done;
  }
}
