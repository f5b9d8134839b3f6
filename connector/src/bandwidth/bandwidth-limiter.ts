import { type BandwidthAt, type BandwidthSetting, bandwidthAt, describeBandwidth, formatRate } from '../../../protocol';
import { ByteBucket, type BucketClock, realClock } from './byte-bucket';

/** Where the limit in force comes from: the tenant's setting (`so-backup tenants set --bandwidth`), the configuration file, or neither (unlimited). */
export type BandwidthSource = 'tenant' | 'config' | 'none';

/** The limit in force at one moment, and why. */
export interface BandwidthInForce extends BandwidthAt {
  source: BandwidthSource;
  /** Each setting's own limit at this moment, when it is set. */
  tenant?: BandwidthAt;
  config?: BandwidthAt;
}

/**
 * The limit in force: the stricter of the tenant's setting and the configuration file's at this
 * moment (either one alone when only one is set; unlimited when neither is). So the operator can
 * lower the limit centrally, and the customer's own cap in the configuration file always holds.
 */
export function bandwidthInForce(
  config: BandwidthSetting | undefined,
  tenant: BandwidthSetting | null | undefined,
  at: Date,
): BandwidthInForce {
  const fromConfig = config === undefined ? undefined : bandwidthAt(config, at);
  const fromTenant = tenant === undefined || tenant === null ? undefined : bandwidthAt(tenant, at);
  const changesAt = [fromConfig?.changesAt, fromTenant?.changesAt]
    .filter((d): d is Date => d !== undefined)
    .sort((a, b) => a.getTime() - b.getTime())[0];
  const rank = (limit: BandwidthAt | undefined) => limit?.bytesPerSecond ?? Infinity;
  const base = { tenant: fromTenant, config: fromConfig, changesAt };
  if (!fromConfig && !fromTenant) return { bytesPerSecond: null, source: 'none', ...base };
  if (rank(fromTenant) <= rank(fromConfig) && fromTenant)
    return { bytesPerSecond: fromTenant.bytesPerSecond, period: fromTenant.period, source: 'tenant', ...base };
  return { bytesPerSecond: fromConfig!.bytesPerSecond, period: fromConfig!.period, source: 'config', ...base };
}

/** "5 Mbit/s (tenant setting, Mon-Fri 07:00-17:00)" — for logs, doctor and progress. */
export function describeInForce(
  limit: BandwidthInForce,
  settings: { config?: BandwidthSetting; tenant?: BandwidthSetting | null },
): string {
  if (limit.source === 'none') return 'unlimited (no limit set)';
  const setting = limit.source === 'tenant' ? settings.tenant! : settings.config!;
  const where = limit.source === 'tenant' ? "the tenant's setting (so-backup tenants set --bandwidth)" : 'the configuration file';
  const period =
    limit.period === undefined || typeof setting === 'string'
      ? ''
      : `, ${setting.schedule[limit.period]!.days} ${setting.schedule[limit.period]!.from}-${setting.schedule[limit.period]!.to}`;
  const until = limit.changesAt ? `; changes at ${limit.changesAt.toLocaleString('sv-SE')}` : '';
  return `${formatRate(limit.bytesPerSecond)} from ${where}${period}${until} [${describeBandwidth(setting)}]`;
}

export interface BandwidthLimiterOptions {
  /** The configuration file's `bandwidth`. */
  readonly config?: BandwidthSetting;
  /** The tenant's setting last received from the cloud (null: none). */
  readonly tenant?: BandwidthSetting | null;
  /** Wall-clock time, for the schedule. @default new Date() */
  readonly now?: () => Date;
  /** The buckets' clock. @default the real one */
  readonly clock?: BucketClock;
  /** Told each time the limit in force changes. */
  readonly onChange?: (limit: BandwidthInForce, description: string) => void;
}

/** How often the schedule is looked at even when no change is due (the server's clock may be set). */
const RECHECK_MS = 60_000;

/**
 * The connector's bandwidth limit: one ByteBucket for everything it uploads and one for
 * everything it downloads (a link's two directions are separate), shared by all of a process's
 * S3 streams, with the rate following the settings' schedules. A later backup window can ask
 * `inForce()` whether it is inside a period (`period`) and when that ends (`changesAt`).
 */
export class BandwidthLimiter {
  readonly upload: ByteBucket;
  readonly download: ByteBucket;
  private config?: BandwidthSetting;
  private tenant?: BandwidthSetting | null;
  private timer?: NodeJS.Timeout;
  private last?: string;
  private readonly now: () => Date;

  constructor(private readonly options: BandwidthLimiterOptions = {}) {
    this.upload = new ByteBucket(options.clock ?? realClock);
    this.download = new ByteBucket(options.clock ?? realClock);
    this.config = options.config;
    this.tenant = options.tenant;
    this.now = options.now ?? (() => new Date());
    this.apply();
  }

  /** The settings this limiter follows. */
  get settings(): { config?: BandwidthSetting; tenant?: BandwidthSetting | null } {
    return { config: this.config, tenant: this.tenant };
  }

  /** The limit in force now (or at `at`). */
  inForce(at: Date = this.now()): BandwidthInForce {
    return bandwidthInForce(this.config, this.tenant, at);
  }

  /** A new tenant setting from the cloud (null: removed); applies at once, to transfers already running too. */
  setTenantSetting(setting: BandwidthSetting | null): BandwidthInForce {
    this.tenant = setting;
    return this.apply();
  }

  /** Follows the schedule from now on (a timer, unref'd); without it the rate is set only at construction and on changes. */
  follow(): void {
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private apply(): BandwidthInForce {
    const limit = this.inForce();
    this.upload.setRate(limit.bytesPerSecond);
    this.download.setRate(limit.bytesPerSecond);
    const description = describeInForce(limit, this.settings);
    const key = `${limit.bytesPerSecond}|${limit.source}|${limit.period}`;
    if (key !== this.last) {
      this.last = key;
      this.options.onChange?.(limit, description);
    }
    if (this.timer) this.schedule();
    return limit;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const changesAt = this.inForce().changesAt;
    const wait = Math.max(1000, Math.min(RECHECK_MS, changesAt ? changesAt.getTime() - this.now().getTime() + 50 : RECHECK_MS));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.apply();
      this.schedule();
    }, wait);
    this.timer.unref();
  }
}
