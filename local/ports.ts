import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Loopback ports for local mode, tests and benchmarks. They must lie outside the kernel's
 * ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`): any outgoing connection of any
 * program may hold a port of that range at the instant we bind it, and a readiness poll of such a
 * port can even connect TCP to itself. So every fixed port here is checked against that range.
 */
export interface EphemeralRange {
  low: number;
  high: number;
}

/** The kernel's ephemeral port range (Linux); 32768–60999 when it cannot be read. */
export function ephemeralPortRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): EphemeralRange {
  try {
    const [low, high] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return { low: low!, high: high! };
  } catch {
    // not Linux, or no procfs: the kernel's usual default
  }
  return { low: 32_768, high: 60_999 };
}

/** True when [first, first + count) does not touch the ephemeral range and fits in 1024–65535. */
export function outsideEphemeralRange(first: number, count: number, range = ephemeralPortRange()): boolean {
  const last = first + count - 1;
  return first >= 1024 && last <= 65_535 && (last < range.low || first > range.high);
}

/**
 * A base for `count` consecutive ports outside the ephemeral range: `preferred` when it is,
 * else the highest block that ends below the range, else the first block above it.
 * @throws Error naming the range when no block fits.
 */
export function portBaseOutsideEphemeral(preferred: number, count: number, range = ephemeralPortRange()): number {
  if (outsideEphemeralRange(preferred, count, range)) return preferred;
  const below = Math.min(preferred, range.low - count);
  if (outsideEphemeralRange(below, count, range)) return below;
  if (outsideEphemeralRange(range.high + 1, count, range)) return range.high + 1;
  throw new Error(`no ${count} consecutive ports lie outside the kernel's ephemeral range ${range.low}–${range.high}`);
}

/**
 * Checks a chosen block of ports and names what to do when it overlaps the ephemeral range.
 * @throws Error naming the range and the `--port-base` way out.
 */
export function assertOutsideEphemeral(first: number, count: number, what: string, range = ephemeralPortRange()): void {
  if (outsideEphemeralRange(first, count, range)) return;
  throw new Error(
    `${what} uses ports ${first}–${first + count - 1}, which overlap the kernel's ephemeral range ${range.low}–${range.high} ` +
      `(/proc/sys/net/ipv4/ip_local_port_range): any outgoing connection may hold one of them. Choose --port-base so that all ${count} ports lie below ${range.low}.`,
  );
}

/** Ports one local-mode instance (or a benchmark's Ceph cluster) uses from its base: see localPorts(). */
export const LOCAL_PORT_SPAN = 100;
/** `npm run local`'s default port base: S3 on 17080, below every usual ephemeral range (Linux 32768–60999, Windows 49152–65535). */
export const DEFAULT_LOCAL_PORT_BASE = 17_000;
/** `npm run bench`'s default port base for its own Ceph cluster. */
export const DEFAULT_BENCH_PORT_BASE = 18_000;

/**
 * What listens on 127.0.0.1:port, as the kernel reports it (`ss -ltnp`), e.g.
 * `users:(("node",pid=123,fd=19))`; undefined when nothing listens. Never connects: a probe
 * connection would itself be a socket.
 */
export function portHolder(port: number): string | undefined {
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  if (out.status !== 0) return undefined;
  const line = out.stdout.split('\n').find((l) => l.trim());
  if (!line) return undefined;
  return line.trim().split(/\s+/).at(-1)?.startsWith('users:') ? line.trim().split(/\s+/).at(-1) : 'another program';
}

/**
 * Refuses to start `what` on a port something else already listens on.
 * @throws Error naming the port, its holder and `--port-base` as the way out.
 */
export function assertPortFree(port: number, what: string): void {
  const holder = portHolder(port);
  if (holder)
    throw new Error(
      `${what} cannot listen on 127.0.0.1:${port}: the port is taken by ${holder}. Stop that program, or choose another --port-base.`,
    );
}
