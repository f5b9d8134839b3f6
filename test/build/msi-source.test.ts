import { msiSource } from '../../scripts/build/msi-source';

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
  const value = (token: string) => (token.startsWith('"') ? token.slice(1, -1) : properties[token] ?? '');
  const primary = (): boolean => {
    const token = tokens[at++]!;
    if (token.toUpperCase() === 'NOT') return !primary();
    if (token === '(') { const inner = or(); at++; return inner; }
    if (tokens[at] === '=' || tokens[at] === '<>') {
      const op = tokens[at++];
      const right = value(tokens[at++]!);
      return op === '=' ? value(token) === right : value(token) !== right;
    }
    return value(token) !== '';
  };
  const and = (): boolean => { let result = primary(); while (tokens[at]?.toUpperCase() === 'AND') { at++; result = primary() && result; } return result; };
  const or = (): boolean => { let result = and(); while (tokens[at]?.toUpperCase() === 'OR') { at++; result = and() || result; } return result; };
  return or();
}

function sequence(): { action: string; at: number; condition: string }[] {
  const source = msiSource({ version: '0.1.1', exe: 'so-connector.exe', koffi: 'koffi.node', guide: 'INSTALL.md' });
  const block = /<InstallExecuteSequence>([\s\S]*?)<\/InstallExecuteSequence>/.exec(source)![1]!;
  return [...block.matchAll(/<Custom Action="([^"]+)" Sequence="(\d+)">([^<]*)<\/Custom>/g)]
    .map((m) => ({ action: m[1]!, at: Number(m[2]), condition: m[3]!.replace(/&quot;/g, '"').trim() }));
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
