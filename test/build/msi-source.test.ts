import { LAUNCH_CONDITIONS, msiSource } from '../../scripts/build/msi-source';

/**
 * The MSI's InstallExecuteSequence, read from the WiX source that build-connector.ts compiles.
 *
 * Found by a tester (helper v1319) under Wine: `msiexec /i so-connector-0.1.1-x64.msi /qn` over an
 * installed 0.1.0 whose service is RUNNING exits 3010 (reboot required): StopServices asks the
 * service to stop but nothing waits for its process to end, so InstallFiles finds so-connector.exe
 * in use and leaves the new exe as msiXXXX.tmp with a PendingFileRenameOperations entry; the old
 * 0.1.0 exe keeps running as the service (so-backup connectors shows 0.1.0, --version says 0.1.0),
 * and a later msiexec /x removes neither the service nor the files. windows-e2e.sh does not see it:
 * it stops the service (net stop) before its upgrade, and its upgrade MSI holds the same exe bytes.
 */

/** Windows Installer's condition syntax, as far as this MSI uses it: names, "strings", =, <>, NOT, AND, OR, parentheses. */
function evaluate(condition: string, properties: Record<string, string>): boolean {
  const tokens = condition.match(/"[^"]*"|<>|=|\(|\)|[A-Za-z_][A-Za-z0-9_.]*/g) ?? [];
  let at = 0;
  const value = (token: string) => (token.startsWith('"') ? token.slice(1, -1) : (properties[token] ?? ''));
  const primary = (): boolean => {
    const token = tokens[at++]!;
    if (token.toUpperCase() === 'NOT') return !primary();
    if (token === '(') {
      const inner = or();
      at++;
      return inner;
    }
    if (tokens[at] === '=' || tokens[at] === '<>') {
      const op = tokens[at++];
      const right = value(tokens[at++]!);
      return op === '=' ? value(token) === right : value(token) !== right;
    }
    return value(token) !== '';
  };
  const and = (): boolean => {
    let result = primary();
    while (tokens[at]?.toUpperCase() === 'AND') {
      at++;
      result = primary() && result;
    }
    return result;
  };
  const or = (): boolean => {
    let result = and();
    while (tokens[at]?.toUpperCase() === 'OR') {
      at++;
      result = and() || result;
    }
    return result;
  };
  return or();
}

function sequence(): { action: string; at: number; condition: string }[] {
  const source = msiSource({ version: '0.1.1', exe: 'so-connector.exe', koffi: 'koffi.node', guide: 'INSTALL.md' });
  const block = /<InstallExecuteSequence>([\s\S]*?)<\/InstallExecuteSequence>/.exec(source)![1]!;
  return [...block.matchAll(/<Custom Action="([^"]+)" Sequence="(\d+)">([^<]*)<\/Custom>/g)].map((m) => ({
    action: m[1]!,
    at: Number(m[2]),
    condition: m[3]!.replace(/&quot;/g, '"').trim(),
  }));
}

describe('the MSI waits for the service process to end before it replaces or removes the exe', () => {
  const STOP_SERVICES = 1900;
  const INSTALL_FILES = 4000;

  test.each([
    ['an uninstall (msiexec /x)', { REMOVE: 'ALL', Installed: '{old}' }],
    ['an upgrade over a running service (msiexec /i newer.msi /qn)', { WIX_UPGRADE_DETECTED: '{7B5B28D0-7C68-468B-8B11-EFB4B660A624}' }],
  ])('GIVEN %s WHEN StopServices has asked the service to stop THEN ServiceWait runs before InstallFiles', (_name, properties) => {
    const waits = sequence().filter((s) => s.action === 'ServiceWait' && s.at > STOP_SERVICES && s.at < INSTALL_FILES);
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.some((s) => evaluate(s.condition, properties))).toBe(true);
  });
});

/** The sequence number the WiX source gives a standard action (<InstallExecute Sequence="…" />). */
function standardAt(action: string): number {
  const source = msiSource({ version: '0.1.1', exe: 'so-connector.exe', koffi: 'koffi.node', guide: 'INSTALL.md' });
  const match = new RegExp(`<${action} Sequence="(\\d+)" />`).exec(source);
  return match ? Number(match[1]) : NaN;
}

describe('the MSI refuses before it changes anything', () => {
  const STOP_SERVICES = 1900;
  const refusals = (properties: Record<string, string>) =>
    LAUNCH_CONDITIONS.filter((c) => !evaluate(c.condition, properties)).map((c) => c.message);

  test('GIVEN ACTIVATIONCODE without ENDPOINT, or ENDPOINT without ACTIVATIONCODE THEN LaunchConditions refuse and name the missing property', () => {
    expect(refusals({ ACTIVATIONCODE: 'acme:ABCDE-FGHJK' })).toEqual([
      expect.stringMatching(/^ACTIVATIONCODE is given but ENDPOINT is not/),
    ]);
    expect(refusals({ ENDPOINT: 'wss://example.com/prod' })).toEqual([
      expect.stringMatching(/^ENDPOINT is given but ACTIVATIONCODE is not/),
    ]);
    expect(refusals({ ENDPOINT: 'wss://example.com/prod', ACTIVATIONCODE: 'acme:ABCDE-FGHJK' })).toEqual([]);
    expect(refusals({})).toEqual([]);
    expect(refusals({ REMOVE: 'ALL', Installed: '{old}' })).toEqual([]);
    // They are in the WiX source wixl compiles (LaunchCondition table).
    const source = msiSource({ version: '0.1.1', exe: 'so-connector.exe', koffi: 'koffi.node', guide: 'INSTALL.md' });
    for (const c of LAUNCH_CONDITIONS)
      expect(source).toContain(`<Condition Message="${c.message}">${c.condition.replace(/"/g, '&quot;')}</Condition>`);
  });

  test.each([
    [
      'a repair with a new code (msiexec /i same.msi ENDPOINT=… ACTIVATIONCODE=…)',
      { Installed: '{same}', ENDPOINT: 'ws://x', ACTIVATIONCODE: 'acme:ABCDE-FGHJK' },
    ],
    ['an upgrade given a code', { WIX_UPGRADE_DETECTED: '{old}', ENDPOINT: 'ws://x', ACTIVATIONCODE: 'acme:ABCDE-FGHJK' }],
  ])(
    'GIVEN %s over a running service THEN the installed exe checks the enrolment before StopServices, and it is executed there (also under Wine, which runs deferred actions only at InstallExecute or InstallFinalize)',
    (_name, properties) => {
      const before = sequence()
        .filter((s) => s.at < STOP_SERVICES && evaluate(s.condition, properties))
        .map((s) => s.action);
      expect(before).toEqual(['EnrolCheck']);
      const source = msiSource({ version: '0.1.1', exe: 'so-connector.exe', koffi: 'koffi.node', guide: 'INSTALL.md' });
      expect(source).toMatch(
        /<CustomAction Id="EnrolCheck" FileKey="so_connector.exe" ExeCommand="enrol --check-only [^"]*" Execute="deferred"/,
      );
      const check = sequence().find((s) => s.action === 'EnrolCheck')!.at;
      expect(standardAt('InstallExecute')).toBeGreaterThan(check);
      expect(standardAt('InstallExecute')).toBeLessThan(STOP_SERVICES);
    },
  );

  test("GIVEN Wine's msiexec, which runs StopServices and InstallFiles at once but deferred custom actions only when the script is executed THEN the script is executed after ServiceWait and before the files are removed or replaced", () => {
    const wait = sequence().find((s) => s.action === 'ServiceWait')!.at;
    expect(standardAt('InstallExecuteAgain')).toBeGreaterThan(wait);
    expect(standardAt('InstallExecuteAgain')).toBeLessThan(2000); // DeleteServices, then RemoveFiles 3500 and InstallFiles 4000
  });

  test('GIVEN a first install (no exe yet) THEN nothing runs the exe before InstallFiles', () => {
    const properties = { ENDPOINT: 'ws://x', ACTIVATIONCODE: 'acme:ABCDE-FGHJK' };
    expect(sequence().filter((s) => s.at < 4000 && evaluate(s.condition, properties))).toEqual([]);
  });
});
