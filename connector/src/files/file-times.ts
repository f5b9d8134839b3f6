import type { BigIntStats } from 'node:fs';
import type { NamePlatform } from './file-names';

/**
 * Modification times, exact. The scan reads them in nanoseconds (bigint stat): ext4 keeps 1 ns,
 * NTFS 100 ns. Node can only set them as a double of seconds (fs.utimes/futimes), and libuv
 * converts that double on its own terms:
 *   - Linux (src/unix/fs.c, uv__fs_to_timespec): truncated to whole microseconds before libuv
 *     1.52 (Node.js 20 and 22); from 1.52 (libuv pull request 4951; Node.js 24's libuv) the
 *     nanoseconds of the double are kept, truncated toward zero.
 *   - Windows (src/win/fs.c, TIME_T_TO_FILETIME): `seconds * 1e7 + 116444736000000000` in double
 *     arithmetic since libuv 1.47 (steps of 16 × 100 ns today), `(uint64) (seconds * 10 * 1e6)`
 *     before it.
 * So a restore cannot always write the exact time. It writes the closest time it can, and
 * because that time follows from the recorded one alone, the archive's unchanged check accepts
 * exactly that value too (sameMtime): after a restore, the next run reads no unchanged file.
 * Times before 1970 are negative: libuv truncates them toward zero as well (so a Linux time
 * lands on the microsecond above), and Node itself turns a negative number into "now"
 * (utimesArgument).
 */

export const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
/** FILETIME counts 100 ns ticks since 1601-01-01; this many lie before 1970-01-01. */
const FILETIME_UNIX_OFFSET = 116444736000000000;

/** True when this process's libuv keeps nanoseconds on Unix (1.52 or newer), false when it truncates to microseconds. */
export const POSIX_KEEPS_NANOSECONDS = libuvAtLeast(process.versions.uv, 1, 52);

function libuvAtLeast(version: string | undefined, major: number, minor: number): boolean {
  const [m = 0, n = 0] = (version ?? '0.0').split('.').map(Number);
  return m > major || (m === major && n >= minor);
}

/** A file's modification time in nanoseconds since the epoch. */
export function mtimeNsOf(stats: BigIntStats): bigint {
  return stats.mtimeNs;
}

/** Milliseconds as a double, as snapshots also carry them for older readers. */
export function nsToMs(ns: bigint): number {
  return Number(ns) / 1e6;
}

/** Nanoseconds from a snapshot entry: exact `mtimeNs` when the connector wrote one, else from the double `mtimeMs`. */
export function snapshotMtimeNs(entry: { mtimeMs: number; mtimeNs?: string }): { ns: bigint; exact: boolean } {
  if (entry.mtimeNs !== undefined) return { ns: BigInt(entry.mtimeNs), exact: true };
  return { ns: BigInt(Math.round(entry.mtimeMs * 1e6)), exact: false };
}

/**
 * What libuv makes of `seconds` on each platform: the nanoseconds the file system ends up with,
 * this process's libuv first, then the other formula of that platform (Linux: microseconds or
 * nanoseconds; Windows: the current and the older one), since a file may have been restored by
 * a connector on another Node.js.
 */
export function writtenBy(seconds: number, platform: NamePlatform, keepsNanoseconds = POSIX_KEEPS_NANOSECONDS): bigint[] {
  if (platform === 'posix') {
    const current = posixWritten(seconds, keepsNanoseconds);
    const other = posixWritten(seconds, !keepsNanoseconds);
    return current === other ? [current] : [current, other];
  }
  const current = BigInt(Math.trunc(seconds * 1e7 + FILETIME_UNIX_OFFSET) - FILETIME_UNIX_OFFSET) * 100n;
  // The older formula casts to an unsigned integer: a time before 1970 had no defined result there.
  if (seconds < 0) return [current];
  const older = BigInt(Math.trunc(seconds * 10 * 1e6)) * 100n;
  return current === older ? [current] : [current, older];
}

/**
 * The seconds to give utimes for `ns`, chosen among the doubles next to it so that what the file
 * system holds afterwards (`written`, by the current libuv) is as close to `ns` as it can be.
 */
export function restoreTime(
  ns: bigint,
  platform: NamePlatform,
  keepsNanoseconds = POSIX_KEEPS_NANOSECONDS,
): { seconds: number; written: bigint[] } {
  // Straight to the closest value the platform can hold: a whole microsecond on Linux before
  // libuv 1.52; on Windows a FILETIME that is a multiple of 16 ticks (the double sum's step).
  // Checked, then searched for in the rare case the guess misses. A libuv that keeps nanoseconds
  // can land on any double near `ns` (0.24 µs apart today): always searched.
  const nanoseconds = platform === 'posix' && keepsNanoseconds;
  if (!nanoseconds) {
    const guess = platform === 'posix' ? closestMicrosecond(ns) : closestFiletime(ns);
    const written = writtenBy(guess, platform, keepsNanoseconds);
    if (distance(written[0]!, ns) <= (platform === 'posix' ? 500n : 900n)) return { seconds: guess, written };
  }
  const whole = ns / NS_PER_S;
  const start = Number(whole) + Number(ns - whole * NS_PER_S) / 1e9;
  const first = writtenBy(start, platform, keepsNanoseconds);
  let best = { seconds: start, written: first, distance: distance(first[0]!, ns) };
  const consider = (seconds: number) => {
    const candidate = writtenBy(seconds, platform, keepsNanoseconds);
    const off = distance(candidate[0]!, ns);
    if (off < best.distance) best = { seconds, written: candidate, distance: off };
  };
  // The doubles around `start` step by about 0.24 µs today: 48 either way cover Windows' 1.6 µs
  // steps, 6 Linux's 1 µs ones.
  let up = start;
  let down = start;
  for (let i = 0, steps = platform === 'win32' ? 48 : 6; i < steps; i++) {
    up = nextDouble(up, 1);
    down = nextDouble(down, -1);
    consider(up);
    consider(down);
  }
  return { seconds: best.seconds, written: best.written };
}

/** libuv's uv__fs_to_timespec: whole seconds and the fraction's nanoseconds, both truncated toward zero (then to microseconds before 1.52). */
function posixWritten(seconds: number, keepsNanoseconds: boolean): bigint {
  let sec = Math.trunc(seconds);
  let nsec = Math.trunc((seconds - sec) * 1e9);
  if (!keepsNanoseconds) nsec -= nsec % 1000;
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  }
  return BigInt(sec) * NS_PER_S + BigInt(nsec);
}

const distance = (a: bigint, b: bigint) => (a > b ? a - b : b - a);

/** a / b rounded down (BigInt division rounds toward zero, which is up for negative numbers). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return q * b > a ? q - 1n : q;
}

/**
 * Seconds half a microsecond away from the microsecond nearest `ns`, on the side away from
 * zero, so that libuv's truncation (toward zero, for times before 1970 too) lands on it.
 */
function closestMicrosecond(ns: bigint): number {
  const micros = floorDiv(ns + 500n, 1000n);
  const whole = micros / 1_000_000n;
  return Number(whole) + (Number(micros - whole * 1_000_000n) + (micros < 0n ? -0.5 : 0.5)) / 1e6;
}

/** Seconds whose FILETIME sum (in doubles) is the multiple of 16 ticks nearest `ns`. */
function closestFiletime(ns: bigint): number {
  const offset = BigInt(FILETIME_UNIX_OFFSET);
  const absolute = floorDiv(ns + 50n, 100n) + offset;
  const ticks = ((absolute + 8n) / 16n) * 16n - offset;
  const whole = ticks / 10_000_000n;
  return Number(whole) + Number(ticks - whole * 10_000_000n) / 1e7;
}

/**
 * The value to give fs.utimes / fs.futimes for `seconds`. Node turns a negative number into the
 * current time (lib/internal/fs/utils.js, toUnixTimestamp), so a time before 1970 would become
 * "now"; a numeric string is taken as the number it spells, and String() spells every double
 * exactly. So negative times go as strings.
 */
export function utimesArgument(seconds: number): number | string {
  return seconds < 0 ? String(seconds) : seconds;
}

/**
 * The archive's unchanged check on times: the time the index or snapshot recorded, or the time a
 * restore of it writes on this platform (on Linux by either libuv formula). `exact` false: a time from an older index or snapshot
 * (double milliseconds, good to about 0.25 µs), which matches within 1 µs.
 */
export function sameMtime(recorded: bigint, found: bigint, platform: NamePlatform, exact = true): boolean {
  if (recorded === found) return true;
  if (!exact) {
    const off = recorded - found;
    return off < 1000n && off > -1000n;
  }
  // A restore by a connector on either libuv (Node.js 22's or 24's) may have written it.
  if (restoreTime(recorded, platform).written.includes(found)) return true;
  return platform === 'posix' && restoreTime(recorded, platform, !POSIX_KEEPS_NANOSECONDS).written.includes(found);
}

/** The next representable double above (direction 1) or below (-1). */
const view = new DataView(new ArrayBuffer(8));
function nextDouble(value: number, direction: 1 | -1): number {
  view.setFloat64(0, value);
  let bits = view.getBigUint64(0);
  if (value === 0) return direction * Number.MIN_VALUE;
  bits += value > 0 === direction > 0 ? 1n : -1n;
  view.setBigUint64(0, bits);
  return view.getFloat64(0);
}
