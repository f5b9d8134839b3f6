import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type Presence, presenceDecision, presenceSchema, PROTOCOL_VERSION, type SettingsMessage } from '../../../protocol';
import type { Link } from './link';

/** The parts of the link the controller uses (the real Link; its events and `rest`). */
export type PresenceLink = Pick<
  Link,
  'on' | 'rest' | 'sendIfConnected' | 'connected' | 'sendQueueLength' | 'pendingResultCount' | 'restingUntilMs'
>;

export interface PresenceControllerOptions {
  readonly link: PresenceLink;
  /** A backup job or restore drill runs (ConnectorService.busy); call `evaluate()` when one ends. */
  readonly working: () => boolean;
  readonly logger: Logger;
  /** The configuration's startupHoldMinutes. @default PRESENCE.startupHoldMinutes */
  readonly startupHoldMinutes?: number;
  /** @default PRESENCE.minimumConnectedSeconds (shorter only in tests) */
  readonly minimumConnectedSeconds?: number;
  /** Where `presence.json` (what `so-connector doctor` shows) is kept; none without it. */
  readonly stateDir?: string;
  /** A settings request unanswered this long no longer keeps the connection. @default 30 s */
  readonly settingsAnswerMs?: number;
  /** When the service started (ms since the epoch). @default now */
  readonly startedAt?: number;
  readonly random?: () => number;
}

/** The longest single timer: a decision further away is looked at again after this (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 3600_000;

/**
 * Glue between the link and the pure rule `presenceDecision` (protocol/presence.ts): it remembers
 * when the service started, when this connection opened and the cloud's latest `settings.presence`,
 * works out "busy" (a job or drill runs, a result waits for its acknowledgement, messages wait to be
 * sent, or a settings request waits for its answer), and asks the rule again on every change and at
 * the instant the rule named. When the rule says leave, the link rests until the rule's instant.
 *
 * Settings are asked for after the first connect (as before), and — in check-in mode — after every
 * connect and after every acknowledged result, so that `nextBackupAt` moves on to the next day.
 * With no presence from the cloud (an older cloud) or `{ mode: 'always' }` the link never rests.
 */
export class PresenceController {
  private presence?: Presence;
  private connectedAt = 0;
  private readonly startedAt: number;
  private settingsAskedAt?: number;
  private timer?: NodeJS.Timeout;
  private evaluating = false;
  private again = false;
  private stopped = false;
  private asked = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: PresenceControllerOptions) {
    this.startedAt = options.startedAt ?? Date.now();
    const { link } = options;
    link.on('connected', () => {
      this.connectedAt = Date.now();
      if (!this.asked || this.presence?.mode === 'check-in') this.askForSettings();
      void this.writeStatus('connected');
      this.evaluate();
    });
    link.on('disconnected', () => clearTimeout(this.timer));
    link.on('settings', (settings) => this.onSettings(settings));
    link.on('acknowledged', () => {
      if (this.presence?.mode === 'check-in') this.askForSettings();
      this.evaluate();
    });
    link.on('resting', () => void this.writeStatus('resting'));
  }

  /** The cloud's latest word (undefined: none yet, or an older cloud). */
  get current(): Presence | undefined {
    return this.presence;
  }

  /** Stops deciding (service stop); the status file says so. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writeStatus('stopped');
  }

  private askForSettings(): void {
    if (this.options.link.sendIfConnected({ type: 'settings-request', v: PROTOCOL_VERSION })) {
      this.asked = true;
      this.settingsAskedAt = Date.now();
    }
  }

  private onSettings(settings: SettingsMessage): void {
    this.settingsAskedAt = undefined;
    const before = this.presence;
    this.presence = settings.presence;
    // Logged when the mode or the interval changes (the next backup's slot moves every day).
    const shape = (p: Presence | undefined) => (p?.mode === 'check-in' ? `check-in ${p.checkInSeconds}` : 'always');
    if (before === undefined || shape(before) !== shape(settings.presence))
      this.options.logger.info(
        { presence: settings.presence ?? null },
        settings.presence?.mode === 'check-in'
          ? `presence: checking in every ${describeSeconds(settings.presence.checkInSeconds)}`
          : 'presence: connected all the time',
      );
    void this.writeStatus('connected');
    this.evaluate();
  }

  /** Asks the rule again now (a job or drill ended, or anything else changed). Never throws. */
  evaluate(): void {
    if (this.evaluating) {
      this.again = true;
      return;
    }
    this.evaluating = true;
    void this.decide()
      .catch((error: unknown) =>
        this.options.logger.warn({ err: (error as Error).message }, 'presence: could not decide; staying connected'),
      )
      .finally(() => {
        this.evaluating = false;
        if (this.again) {
          this.again = false;
          this.evaluate();
        }
      });
  }

  private async busy(now: number): Promise<boolean> {
    const { link, working } = this.options;
    const settingsAnswerMs = this.options.settingsAnswerMs ?? 30_000;
    if (working() || link.sendQueueLength > 0) return true;
    if (this.settingsAskedAt !== undefined && now - this.settingsAskedAt < settingsAnswerMs) return true;
    return (await link.pendingResultCount()) > 0;
  }

  private async decide(): Promise<void> {
    clearTimeout(this.timer);
    const { link } = this.options;
    if (this.stopped || !link.connected) return;
    let busy = await this.busy(Date.now());
    const now = Date.now();
    if (this.stopped || !link.connected) return;
    // Looked at again after the outbox read: a job's result is delivered while the job still counts as working.
    busy ||= this.options.working() || link.sendQueueLength > 0;
    const decision = presenceDecision(
      {
        presence: this.presence,
        now,
        startedAt: this.startedAt,
        connectedAt: this.connectedAt,
        busy,
        startupHoldMinutes: this.options.startupHoldMinutes,
        minimumConnectedSeconds: this.options.minimumConnectedSeconds,
      },
      this.options.random,
    );
    if (decision.stay) {
      if (Number.isFinite(decision.until)) {
        this.timer = setTimeout(() => this.evaluate(), Math.min(MAX_TIMER_MS, Math.max(0, decision.until - now)));
        this.timer.unref?.();
      }
      return;
    }
    link.rest(decision.reconnectAt, 'checked in; nothing to do until the next check-in');
  }

  private async writeStatus(state: PresenceStatus['state']): Promise<void> {
    const { stateDir, link } = this.options;
    if (!stateDir) return;
    const now = new Date().toISOString();
    const resting = state === 'resting' ? link.restingUntilMs : undefined;
    const status: PresenceStatus = {
      presence: this.presence ?? null,
      state,
      since: state === 'connected' && this.connectedAt ? new Date(this.connectedAt).toISOString() : now,
      nextCheckInAt: resting !== undefined ? new Date(resting).toISOString() : null,
      updatedAt: now,
    };
    // One write at a time, in order: the last state wins.
    this.writing = this.writing
      .then(() => writePresenceStatus(stateDir, status))
      .catch((error: unknown) =>
        this.options.logger.warn({ err: (error as Error).message }, 'could not keep the presence status in the state folder'),
      );
    await this.writing;
  }
}

const statusSchema = z.object({
  /** The cloud's latest word; null: none received (connected all the time). */
  presence: presenceSchema.nullable(),
  /** What the service was doing when it wrote this: connected, resting between check-ins, or stopped. */
  state: z.enum(['connected', 'resting', 'stopped']),
  /** ISO 8601: since when (connected: the connection's open; otherwise when this was written). */
  since: z.iso.datetime(),
  /** ISO 8601: when it connects again (resting only). */
  nextCheckInAt: z.iso.datetime().nullable(),
  updatedAt: z.iso.datetime(),
});
/** `<stateDir>/presence.json`: the running service's presence, for `so-connector doctor`. */
export type PresenceStatus = z.infer<typeof statusSchema>;

const STATUS_FILE = 'presence.json';

/** Writes the status whole (a temporary file renamed over the old one). */
export async function writePresenceStatus(stateDir: string, status: PresenceStatus): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const target = path.join(stateDir, STATUS_FILE);
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(status, null, 2)}\n`);
  await rename(temporary, target);
}

/** The running service's last presence status, or undefined when none was written (or it cannot be read). */
export async function readPresenceStatus(stateDir: string): Promise<PresenceStatus | undefined> {
  try {
    return statusSchema.parse(JSON.parse(await readFile(path.join(stateDir, STATUS_FILE), 'utf8')));
  } catch {
    return undefined;
  }
}

/** "1 h", "20 min", "90 s": a check-in interval for people. */
export function describeSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** One line for `so-connector doctor`: how the running service is connected. */
/** Whether the service's status is healthy: not stopped, and not overdue for its check-in (10 minutes' grace). No status yet is not a fault. */
export function presenceStatusHealthy(status: PresenceStatus | undefined, now = Date.now()): boolean {
  if (!status) return true;
  if (status.state === 'stopped') return false;
  return !(status.state === 'resting' && status.nextCheckInAt && Date.parse(status.nextCheckInAt) < now - 10 * 60_000);
}

export function describePresenceStatus(status: PresenceStatus | undefined, now = Date.now()): string {
  if (!status) return 'no status from the service yet (it writes one when it connects)';
  const presence = status.presence;
  if (status.state === 'stopped') return `the service stopped at ${status.since}`;
  if (!presence || presence.mode === 'always') return `connected all the time (since ${status.since})`;
  const every = `checks in every ${describeSeconds(presence.checkInSeconds)}`;
  const backup = presence.nextBackupAt ? `; next backup at ${presence.nextBackupAt}` : '';
  if (status.state === 'resting' && status.nextCheckInAt) {
    const late = Date.parse(status.nextCheckInAt) < now - 10 * 60_000;
    return `${every}; next check-in at ${status.nextCheckInAt}${late ? ' (overdue: is the service running?)' : ''}${backup}`;
  }
  return `${every}; connected since ${status.since}${backup}`;
}
