// Wall-clock periods are tested in a zone with daylight saving time (set before any Date is made).
process.env.TZ = 'Europe/Oslo';
import {
  bandwidthAt,
  bandwidthSettingSchema,
  describeBandwidth,
  formatRate,
  parseClock,
  parseDays,
  parseRate,
  parseMessage,
} from '../../protocol';

describe('parseRate', () => {
  test.each([
    ['20 Mbit/s', 2_500_000],
    ['40Mbit', 5_000_000],
    ['500 kbit/s', 62_500],
    ['1 Gbit/s', 125_000_000],
    ['1.5 Gbps', 187_500_000],
    ['10 Mbps', 1_250_000],
    ['5 MB/s', 5_000_000],
    ['5MB', 5_000_000],
    ['3 MBps', 3_000_000],
    ['500 KB/s', 500_000],
    ['500 kB/s', 500_000],
    ['2 MiB/s', 2 * 1024 ** 2],
    ['64 KiB/s', 65_536],
    [' unlimited ', null],
    ['Unlimited', null],
  ])('GIVEN "%s" THEN %p bytes per second', (text, bytes) => {
    expect(parseRate(text)).toBe(bytes);
  });

  test.each([
    ['5 Mb/s', /could mean bits or bytes; write Mbit\/s for bits or MB\/s for bytes/],
    ['5 mb', /could mean bits or bytes/],
    ['fast', /is not a rate: write a number and a unit/],
    ['-5 Mbit/s', /is not a rate/],
    ['12 foo/s', /unknown unit "foo\/s"; units: kbit\/s/],
    ['100 kbit/s', /below the smallest limit, 256 kbit\/s/],
    ['0 Mbit/s', /below the smallest limit/],
  ])('GIVEN "%s" THEN the problem is named', (text, message) => {
    expect(parseRate(text)).toMatch(message);
  });

  test('formatRate reads as people write limits', () => {
    expect(formatRate(2_500_000)).toBe('20 Mbit/s');
    expect(formatRate(62_500)).toBe('500 kbit/s');
    expect(formatRate(187_500_000)).toBe('1.5 Gbit/s');
    expect(formatRate(null)).toBe('unlimited');
  });
});

describe('days and times', () => {
  test('day lists, ranges across the week end, and "daily"', () => {
    expect([...(parseDays('Mon-Fri') as Set<number>)].sort()).toEqual([1, 2, 3, 4, 5]);
    expect([...(parseDays('Fri-Mon') as Set<number>)].sort()).toEqual([0, 1, 5, 6]);
    expect([...(parseDays('Sat,Sun') as Set<number>)].sort()).toEqual([0, 6]);
    expect((parseDays('daily') as Set<number>).size).toBe(7);
    expect(parseDays('Mon-Fry')).toMatch(/is not a list of days/);
    expect(parseDays('M')).toMatch(/is not a list of days/);
  });

  test('HH:MM from 00:00 to 24:00', () => {
    expect(parseClock('07:30')).toBe(450);
    expect(parseClock('24:00')).toBe(1440);
    expect(parseClock('24:01')).toMatch(/not a time of day/);
    expect(parseClock('7')).toMatch(/not a time of day/);
    expect(parseClock('12:60')).toMatch(/not a time of day/);
  });
});

describe('bandwidthSettingSchema', () => {
  test('GIVEN a setting with several mistakes THEN each is named with its path', () => {
    const parsed = bandwidthSettingSchema.safeParse({
      default: '20 Mb/s',
      schedule: [{ days: 'Mon-Fry', from: '7', to: '17:00', limit: 'slow' }],
      extra: 1,
    });
    expect(parsed.success).toBe(false);
    const issues = parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^default: .*could mean bits or bytes/),
        expect.stringMatching(/^schedule\.0\.days: .*not a list of days/),
        expect.stringMatching(/^schedule\.0\.from: .*not a time of day/),
        expect.stringMatching(/^schedule\.0\.limit: .*not a rate/),
        expect.stringMatching(/Unrecognized key: "extra"/),
      ]),
    );
  });

  test('GIVEN a period from and to the same time THEN it is refused as empty', () => {
    const parsed = bandwidthSettingSchema.safeParse({ schedule: [{ days: 'daily', from: '07:00', to: '07:00', limit: '5 Mbit/s' }] });
    expect(parsed.error?.issues[0]?.message).toMatch(/the period would be empty/);
  });

  test('GIVEN a schedule without a default THEN outside its periods it is unlimited', () => {
    const setting = bandwidthSettingSchema.parse({ schedule: [{ days: 'Mon-Fri', from: '07:00', to: '17:00', limit: '5 Mbit/s' }] });
    expect(bandwidthAt(setting, new Date(2026, 10, 28, 12)).bytesPerSecond).toBeNull(); // a Saturday
    expect(describeBandwidth(setting)).toBe('unlimited; Mon-Fri 07:00-17:00 5 Mbit/s');
  });
});

describe('bandwidthAt (the limit at a moment, local time)', () => {
  const setting = bandwidthSettingSchema.parse({
    default: '20 Mbit/s',
    schedule: [
      { days: 'Mon-Fri', from: '07:00', to: '17:00', limit: '5 Mbit/s' },
      { days: 'Fri', from: '12:00', to: '13:00', limit: '1 Mbit/s' }, // inside the first one: never applies (first match wins)
      { days: 'Sat', from: '22:00', to: '06:00', limit: 'unlimited' }, // past midnight into Sunday
    ],
  });
  const at = (y: number, m: number, d: number, h: number, min = 0) => bandwidthAt(setting, new Date(y, m - 1, d, h, min));

  test('inside working hours the working-hours limit; outside, the default; each with when it changes', () => {
    expect(at(2026, 11, 30, 6, 59)).toEqual({ bytesPerSecond: 2_500_000, changesAt: new Date(2026, 10, 30, 7) });
    expect(at(2026, 11, 30, 7)).toEqual({ bytesPerSecond: 625_000, period: 0, changesAt: new Date(2026, 10, 30, 17) });
    expect(at(2026, 11, 30, 17)).toEqual({ bytesPerSecond: 2_500_000, changesAt: new Date(2026, 11, 1, 7) });
  });

  test('the first period that contains the moment applies', () => {
    expect(at(2026, 12, 4, 12, 30)).toMatchObject({ bytesPerSecond: 625_000, period: 0 });
  });

  test('a period past midnight holds on the next morning', () => {
    expect(at(2026, 12, 5, 23)).toMatchObject({ bytesPerSecond: null, period: 2, changesAt: new Date(2026, 11, 6, 6) });
    expect(at(2026, 12, 6, 5, 59)).toMatchObject({ bytesPerSecond: null, period: 2 });
    expect(at(2026, 12, 6, 6).period).toBeUndefined();
    expect(at(2026, 12, 6, 6).bytesPerSecond).toBe(2_500_000);
  });

  test('periods are wall-clock times across daylight saving changes (Europe/Oslo, 29 March and 25 October 2026)', () => {
    const spring = at(2026, 3, 30, 7); // the Monday after clocks went forward
    expect(spring).toMatchObject({ bytesPerSecond: 625_000, period: 0 });
    expect(new Date(2026, 2, 30, 7).getHours()).toBe(7);
    const autumn = at(2026, 10, 26, 6, 59); // the Monday after clocks went back
    expect(autumn.changesAt).toEqual(new Date(2026, 9, 26, 7));
    expect(autumn.changesAt!.getHours()).toBe(7);
  });

  test('a plain rate never changes', () => {
    expect(bandwidthAt('40 Mbit/s', new Date())).toEqual({ bytesPerSecond: 5_000_000 });
  });
});

describe('settings messages on the wire', () => {
  test("GIVEN the cloud sends a tenant's bandwidth THEN the connector parses it; a bad one is refused naming the field", () => {
    const good = parseMessage('cloud', JSON.stringify({ type: 'settings', v: 1, bandwidth: { default: '20 Mbit/s', schedule: [] } }));
    expect(good).toMatchObject({ type: 'settings', bandwidth: { default: '20 Mbit/s' } });
    expect(parseMessage('cloud', JSON.stringify({ type: 'settings', v: 1, bandwidth: null }))).toMatchObject({ bandwidth: null });
    expect(() => parseMessage('cloud', JSON.stringify({ type: 'settings', v: 1, bandwidth: '20 Mb/s' }))).toThrow(
      /invalid "settings" message: .*bits or bytes/,
    );
    expect(parseMessage('connector', JSON.stringify({ type: 'settings-request', v: 1 }))).toEqual({ type: 'settings-request', v: 1 });
  });
});
