/**
 * EventBridge Scheduler's schedule expressions (Scheduler user guide, "Schedule types"):
 * `rate(value unit)` and `cron(minutes hours day-of-month month day-of-week year)` evaluated in
 * a time zone. Supported in cron fields: `*`, `?`, numbers, names (JAN–DEC, SUN–SAT),
 * lists, ranges and `/` steps; day-of-week counts 1–7 from Sunday as AWS does. The `L`, `W`
 * and `#` forms are refused rather than misread.
 */
export type ScheduleExpression = { kind: 'rate'; everyMs: number } | { kind: 'cron'; fields: Array<Set<number> | '*'> };

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const RANGES: Array<[number, number, string[]?]> = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12, MONTHS],
  [1, 7, DAYS],
  [1970, 2199],
];

/** @throws Error naming what is not understood */
export function parseScheduleExpression(expression: string): ScheduleExpression {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const unit = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[rate[2]!.replace(/s$/, '') as 'minute' | 'hour' | 'day'];
    return { kind: 'rate', everyMs: Number(rate[1]) * unit };
  }
  const cron = /^cron\((.+)\)$/.exec(expression.trim());
  if (!cron) throw new Error(`not a schedule expression: ${expression}`);
  const parts = cron[1]!.trim().split(/\s+/);
  if (parts.length !== 6) throw new Error(`cron() needs 6 fields (minutes hours day-of-month month day-of-week year): ${expression}`);
  return {
    kind: 'cron',
    fields: parts.map((part, index) => {
      if (part === '*' || part === '?') return '*';
      if (/[LW#]/.test(part)) throw new Error(`cron field "${part}" (L, W, #) is not supported locally: ${expression}`);
      const [low, high, names] = RANGES[index]!;
      const value = (text: string) => {
        const named = names?.indexOf(text.toUpperCase()) ?? -1;
        const n = named >= 0 ? named + 1 : Number(text);
        if (!Number.isInteger(n) || n < low || n > high) throw new Error(`cron field "${part}" is out of ${low}–${high}: ${expression}`);
        return n;
      };
      const set = new Set<number>();
      for (const item of part.split(',')) {
        const [range = '', step] = item.split('/');
        const [from, to] =
          range === '*'
            ? [low, high]
            : range.includes('-')
              ? (range.split('-').map(value) as [number, number])
              : [value(range), step ? high : value(range)];
        for (let n = from; n <= to; n += step ? Number(step) : 1) set.add(n);
      }
      return set;
    }),
  };
}

/** The first time after `after` (exclusive) the schedule fires, in its time zone. */
export function nextFireTime(schedule: ScheduleExpression, after: Date, timeZone = 'UTC', startedAt = after): Date {
  if (schedule.kind === 'rate') {
    const elapsed = after.getTime() - startedAt.getTime();
    return new Date(startedAt.getTime() + (Math.floor(elapsed / schedule.everyMs) + 1) * schedule.everyMs);
  }
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  });
  const matches = (fields: Array<Set<number> | '*'>, values: number[]) =>
    fields.every((field, i) => field === '*' || field.has(values[i]!));
  let t = Math.floor(after.getTime() / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < 366 * 24 * 60; i++, t += 60_000) {
    const parts = Object.fromEntries(format.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
    const values = [
      Number(parts.minute),
      Number(parts.hour),
      Number(parts.day),
      Number(parts.month),
      DAYS.indexOf(String(parts.weekday).toUpperCase()) + 1,
      Number(parts.year),
    ];
    if (matches(schedule.fields, values)) return new Date(t);
  }
  throw new Error('the schedule does not fire within a year');
}
