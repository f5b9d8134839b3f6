import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConnectorConfig } from '../../connector/src/config';
import { PRESENCE } from '../../protocol';
import { connectorConfigFor } from '../helpers/connector-config';

/** The configuration file as Windows editors save it. */
describe('the configuration file, in the encodings Notepad writes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-config-'));
  const config = connectorConfigFor('C:\\ProgramData\\so-backup', {
    archive: { roots: [{ name: 'SO_ARC', path: 'D:\\Arkiv\\Søknader' }] },
  });
  const json = JSON.stringify(config, null, 2).replace(/\n/g, '\r\n');
  const saved = (name: string, bytes: Buffer) => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };

  test.each([
    ['UTF-8', Buffer.from(json)],
    ['UTF-8 with a byte-order mark (Notepad before Windows 10 1903)', Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(json)])],
    ['UTF-16 LE with a byte-order mark (Notepad\'s "Unicode")', Buffer.concat([Buffer.of(0xff, 0xfe), Buffer.from(json, 'utf16le')])],
    ['UTF-16 BE with a byte-order mark', Buffer.concat([Buffer.of(0xfe, 0xff), Buffer.from(json, 'utf16le').swap16()])],
    ['UTF-16 LE without one', Buffer.from(json, 'utf16le')],
    ['UTF-8 with the byte-order mark twice', Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf), Buffer.from(json)])],
    ['UTF-16 LE with the byte-order mark twice', Buffer.concat([Buffer.of(0xff, 0xfe), Buffer.from(`\uFEFF${json}`, 'utf16le')])],
  ])('GIVEN %s THEN it is read, paths with non-ASCII letters intact', (name, bytes) => {
    const loaded = loadConnectorConfig(saved(`${name.slice(0, 12)}.json`, bytes));
    expect(loaded.archive!.roots[0]!.path).toBe('D:\\Arkiv\\Søknader');
  });

  test.each([
    ['UTF-32 LE with a byte-order mark', Buffer.concat([Buffer.of(0xff, 0xfe, 0, 0), utf32le(json)])],
    ['UTF-32 BE with a byte-order mark', Buffer.concat([Buffer.of(0, 0, 0xfe, 0xff), utf32le(json).swap32()])],
    ['UTF-32 LE without one', utf32le(json)],
  ])('GIVEN %s THEN it is refused, naming UTF-32 and the fix (not misread as UTF-16)', (name, bytes) => {
    expect(() => loadConnectorConfig(saved(`${name.replace(/\W/g, '')}.json`, bytes))).toThrow(
      /is UTF-32, which the connector does not read: save it as UTF-8/,
    );
  });

  test('GIVEN a file saved in a legacy code page (ANSI) THEN it is refused with the fix, never read with a wrong folder name', () => {
    expect(() => loadConnectorConfig(saved('ansi.json', Buffer.from(json, 'latin1')))).toThrow(/is not UTF-8 .*save it as UTF-8/);
  });
});

/** UTF-32 LE bytes of a string (Node has no UTF-32 encoder). */
function utf32le(text: string): Buffer {
  const points = [...text].map((c) => c.codePointAt(0)!);
  const out = Buffer.alloc(points.length * 4);
  points.forEach((p, i) => {
    out.writeUInt32LE(p, i * 4);
  });
  return out;
}

describe("the configuration file's bandwidth limit", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-config-bw-'));
  const withBandwidth = (bandwidth: unknown) => {
    const file = path.join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...connectorConfigFor('C:\\ProgramData\\so-backup', { archive: { roots: [{ name: 'SO_ARC', path: 'D:\\SO_ARC' }] } }),
        bandwidth,
      }),
    );
    return file;
  };

  test('GIVEN none THEN unlimited; GIVEN a rate or a schedule THEN it is kept as written', () => {
    expect(loadConnectorConfig(withBandwidth(undefined)).bandwidth).toBeUndefined();
    expect(loadConnectorConfig(withBandwidth('20 Mbit/s')).bandwidth).toBe('20 Mbit/s');
    const office = { default: '20 Mbit/s', schedule: [{ days: 'Mon-Fri', from: '07:00', to: '17:00', limit: '5 Mbit/s' }] };
    expect(loadConnectorConfig(withBandwidth(office)).bandwidth).toEqual(office);
  });

  test('GIVEN mistakes THEN each is named with its place in the file', () => {
    const file = withBandwidth({ default: '20 Mbps', schedule: [{ days: 'Weekdays', from: '07:00', to: '17:00', limit: '5 Mb/s' }] });
    expect(() => loadConnectorConfig(file)).toThrow(
      /bandwidth\.schedule\.0\.days: "Weekdays" is not a list of days[\s\S]*bandwidth\.schedule\.0\.limit: "5 Mb\/s" has an unknown unit/,
    );
  });
});

describe("the configuration file's startupHoldMinutes (issue 18: check-in presence)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-config-hold-'));
  const withHold = (hold: unknown) => {
    const file = path.join(dir, 'config.json');
    const { startupHoldMinutes: _default, ...config } = connectorConfigFor('C:\\ProgramData\\so-backup', {
      archive: { roots: [{ name: 'SO_ARC', path: 'D:\\SO_ARC' }] },
    });
    writeFileSync(file, JSON.stringify(hold === undefined ? config : { ...config, startupHoldMinutes: hold }));
    return file;
  };

  test('GIVEN none THEN the protocol default; GIVEN 0 or 1440 THEN kept', () => {
    expect(loadConnectorConfig(withHold(undefined)).startupHoldMinutes).toBe(PRESENCE.startupHoldMinutes);
    expect(loadConnectorConfig(withHold(0)).startupHoldMinutes).toBe(0);
    expect(loadConnectorConfig(withHold(1440)).startupHoldMinutes).toBe(1440);
  });

  test.each([
    [-1, /startupHoldMinutes: startupHoldMinutes must be 0-1440 minutes \(0: check in from the start\)/],
    [1441, /startupHoldMinutes: startupHoldMinutes must be 0-1440 minutes \(at most a day\)/],
    [2.5, /startupHoldMinutes: startupHoldMinutes must be a whole number of minutes/],
    ['30', /startupHoldMinutes: startupHoldMinutes must be a number of minutes \(0-1440\)/],
  ])('GIVEN %p THEN it is refused, naming the field and the range', (hold, message) => {
    expect(() => loadConnectorConfig(withHold(hold))).toThrow(message);
  });
});
