import { z } from 'zod';
import { presenceSchema } from './presence';
import { PROTOCOL_VERSION } from './envelope';

/**
 * The connector's bandwidth setting: a rate ("20 Mbit/s"), or a default rate with other rates at
 * set times of the week, in the connector server's local time zone. Shared by the connector's
 * configuration file and the cloud (`so-backup tenants set --bandwidth`), which sends it in a
 * `settings` message. Rates are written as backup agents write them: decimal bits per second
 * (kbit/s, Mbit/s, Gbit/s; also kbps, Mbps, Gbps) or bytes per second (KB/s, MB/s, GB/s, decimal as
 * network rates are; KiB/s, MiB/s, GiB/s binary), or "unlimited".
 */

/** Slowest limit accepted: below it a 5 MiB upload part would take minutes per stream. 256 kbit/s. */
export const MIN_BANDWIDTH_BYTES_PER_SECOND = 32_000;

const UNITS: Record<string, number> = {
  'bit/s': 1 / 8,
  bps: 1 / 8,
  'kbit/s': 1000 / 8,
  kbps: 1000 / 8,
  'mbit/s': 1e6 / 8,
  mbps: 1e6 / 8,
  'gbit/s': 1e9 / 8,
  gbps: 1e9 / 8,
  'B/s': 1,
  'KB/s': 1000,
  'kB/s': 1000,
  'MB/s': 1e6,
  'GB/s': 1e9,
  'KiB/s': 1024,
  'MiB/s': 1024 ** 2,
  'GiB/s': 1024 ** 3,
};

/**
 * Bytes per second of a rate text, `null` for "unlimited"; a string naming the problem when it is
 * not a rate. "/s" may be left out ("40Mbit", "5 MB"); bit units ignore case, byte units don't
 * ("mb/s" could be either, and is refused with both readings).
 */
export function parseRate(text: string): number | null | string {
  const trimmed = text.trim();
  if (/^(unlimited|none|off)$/i.test(trimmed)) return null;
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+(?:\/s)?)$/.exec(trimmed);
  if (!match) return `"${text}" is not a rate: write a number and a unit, e.g. "20 Mbit/s", "500 kbit/s", "5 MB/s", or "unlimited"`;
  const value = Number(match[1]);
  const unit = match[2]!;
  let key: string;
  if (/bit(\/s)?$/i.test(unit)) key = unit.toLowerCase().replace(/(\/s)?$/, '/s');
  else if (/[kmg]?bps$/.test(unit.toLowerCase()) && !/Bps$/.test(unit)) key = unit.toLowerCase();
  else key = unit.replace(/ps$/, '/s').replace(/(\/s)?$/, '/s');
  const factor = UNITS[key];
  if (factor === undefined) {
    const bare = unit.replace(/(\/s|ps)$/, '');
    const hint = /^[kmg]b$/i.test(bare)
      ? `: it could mean bits or bytes; write ${bare[0]!.toLowerCase() === 'k' ? 'k' : bare[0]!.toUpperCase()}bit/s for bits or ${bare[0]!.toUpperCase()}B/s for bytes`
      : '; units: kbit/s, Mbit/s, Gbit/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s';
    return `"${text}" has an unknown unit "${unit}"${hint}`;
  }
  const bytesPerSecond = value * factor;
  if (bytesPerSecond < MIN_BANDWIDTH_BYTES_PER_SECOND)
    return `"${text}" is below the smallest limit, 256 kbit/s (32 KB/s): slower than that, one upload part takes minutes`;
  return bytesPerSecond;
}

/** A rate as people read it: "20 Mbit/s", "1.5 Gbit/s", "unlimited". */
export function formatRate(bytesPerSecond: number | null): string {
  if (bytesPerSecond === null) return 'unlimited';
  const bits = bytesPerSecond * 8;
  const [value, unit] = bits >= 1e9 ? [bits / 1e9, 'Gbit/s'] : bits >= 1e6 ? [bits / 1e6, 'Mbit/s'] : [bits / 1e3, 'kbit/s'];
  return `${Number(value.toPrecision(3))} ${unit}`;
}

const rateSchema = z
  .string()
  .max(40)
  .superRefine((text, ctx) => {
    const rate = parseRate(text);
    if (typeof rate === 'string') ctx.addIssue({ code: 'custom', message: rate });
  });

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** The days of a schedule entry ("Mon-Fri", "Sat,Sun", "Fri-Mon", "daily") as a set of getDay() numbers (0 = Sunday); a string naming the problem otherwise. */
export function parseDays(text: string): Set<number> | string {
  const days = new Set<number>();
  if (/^(daily|every ?day|mon-sun)$/i.test(text.trim())) return new Set([0, 1, 2, 3, 4, 5, 6]);
  const day = (name: string) => DAY_NAMES.indexOf(name.trim().slice(0, 3).toLowerCase() as (typeof DAY_NAMES)[number]);
  for (const part of text.split(',')) {
    const [first, last, extra] = part.split('-');
    const from = day(first ?? '');
    const to = last === undefined ? from : day(last);
    if (extra !== undefined || from < 0 || to < 0 || (first ?? '').trim().length < 3 || (last !== undefined && last.trim().length < 3)) {
      return `"${text}" is not a list of days: write e.g. "Mon-Fri", "Sat,Sun", "Mon,Wed,Fri" or "daily"`;
    }
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return days;
}

/** Minutes after midnight of "HH:MM" (00:00-24:00); a string naming the problem otherwise. */
export function parseClock(text: string): number | string {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  const minutes = match ? Number(match[1]) * 60 + Number(match[2]) : NaN;
  if (!match || Number(match[2]) > 59 || minutes > 24 * 60) return `"${text}" is not a time of day: write HH:MM, 00:00 to 24:00`;
  return minutes;
}

const daysSchema = z
  .string()
  .max(60)
  .superRefine((text, ctx) => {
    const days = parseDays(text);
    if (typeof days === 'string') ctx.addIssue({ code: 'custom', message: days });
  });
const clockSchema = z
  .string()
  .max(5)
  .superRefine((text, ctx) => {
    const minutes = parseClock(text);
    if (typeof minutes === 'string') ctx.addIssue({ code: 'custom', message: minutes });
  });

/** One period of the week with its own limit: from `from` to `to` on each of `days`; a period whose `to` is earlier than `from` runs past midnight into the next day. */
export const bandwidthPeriodSchema = z
  .object({
    days: daysSchema,
    from: clockSchema,
    to: clockSchema,
    limit: rateSchema,
  })
  .strict()
  .refine((p) => p.from.trim() !== p.to.trim(), { message: '"from" and "to" are the same time: the period would be empty' });
export type BandwidthPeriod = z.infer<typeof bandwidthPeriodSchema>;

/**
 * `"20 Mbit/s"`, or `{ "default": "20 Mbit/s", "schedule": [{ "days": "Mon-Fri", "from": "07:00", "to": "17:00", "limit": "5 Mbit/s" }] }`.
 * The first period that contains the moment applies; outside every period, `default` (unlimited when left out).
 */
export const bandwidthSettingSchema = z.union([
  rateSchema,
  z
    .object({
      default: rateSchema.default('unlimited'),
      schedule: z.array(bandwidthPeriodSchema).max(50).default([]),
    })
    .strict(),
]);
export type BandwidthSetting = z.infer<typeof bandwidthSettingSchema>;

/** The limit at one moment: bytes per second (null: unlimited), the schedule period it comes from (index; undefined: the default), and when it next may change. */
export interface BandwidthAt {
  bytesPerSecond: number | null;
  period?: number;
  /** The next moment a period starts or ends (undefined: never, a plain rate). */
  changesAt?: Date;
}

/**
 * The limit in force at `now`, in the local time zone of this process (the connector server's). A
 * period's times are wall-clock times, so across a daylight-saving change a 07:00-17:00 period
 * still starts at 07:00.
 */
export function bandwidthAt(setting: BandwidthSetting, now: Date): BandwidthAt {
  if (typeof setting === 'string') return { bytesPerSecond: rateOf(setting) };
  const periods = setting.schedule.map((p) => ({
    days: parseDays(p.days) as Set<number>,
    from: parseClock(p.from) as number,
    to: parseClock(p.to) as number,
    limit: rateOf(p.limit),
  }));
  // Every start and end of a period from the day before to a week ahead, as actual moments.
  const spans: Array<{ period: number; start: Date; end: Date }> = [];
  for (let offset = -1; offset <= 8; offset++) {
    const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset);
    periods.forEach((p, index) => {
      if (!p.days.has(day.getDay())) return;
      const at = (minutes: number, plusDays = 0) =>
        new Date(day.getFullYear(), day.getMonth(), day.getDate() + plusDays, Math.floor(minutes / 60), minutes % 60);
      spans.push({ period: index, start: at(p.from), end: p.to > p.from ? at(p.to) : at(p.to, 1) });
    });
  }
  const inside = spans.filter((s) => s.start <= now && now < s.end).sort((a, b) => a.period - b.period)[0];
  const boundaries = spans
    .flatMap((s) => [s.start, s.end])
    .filter((d) => d > now)
    .sort((a, b) => a.getTime() - b.getTime());
  const changesAt = boundaries[0];
  return inside
    ? { bytesPerSecond: periods[inside.period]!.limit, period: inside.period, changesAt }
    : { bytesPerSecond: rateOf(setting.default), changesAt };
}

function rateOf(text: string): number | null {
  const rate = parseRate(text);
  if (typeof rate === 'string') throw new RangeError(rate);
  return rate;
}

/** A setting in one line: "20 Mbit/s", or "20 Mbit/s; Mon-Fri 07:00-17:00 5 Mbit/s". */
export function describeBandwidth(setting: BandwidthSetting): string {
  if (typeof setting === 'string') return formatRate(rateOf(setting));
  return [
    formatRate(rateOf(setting.default)),
    ...setting.schedule.map((p) => `${p.days} ${p.from}-${p.to} ${formatRate(rateOf(p.limit))}`),
  ].join('; ');
}

/**
 * Cloud → connector: the tenant's central settings (sent when the connector asks after connecting,
 * and when an operator changes them). `bandwidth: null`: no central limit, the configuration file's applies.
 * `presence`: when to stay connected (protocol/presence.ts); absent from an older cloud: always.
 */
export const settingsMessageSchema = z.object({
  type: z.literal('settings'),
  v: z.literal(PROTOCOL_VERSION),
  bandwidth: bandwidthSettingSchema.nullable(),
  presence: presenceSchema.optional(),
});
export type SettingsMessage = z.infer<typeof settingsMessageSchema>;

/** Connector → cloud: send me my central settings (after each connect). */
export const settingsRequestMessageSchema = z.object({ type: z.literal('settings-request'), v: z.literal(PROTOCOL_VERSION) });
export type SettingsRequestMessage = z.infer<typeof settingsRequestMessageSchema>;
