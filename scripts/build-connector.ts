// `npm run build:connector`: the connector as one self-contained file for the customer's server.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'so-connector');

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [path.join(root, 'connector', 'src', 'bin', 'so-connector.ts')],
    outfile: path.join(out, 'so-connector.js'),
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, minify: false, legalComments: 'linked',
    logLevel: 'warning',
  });
  copyFileSync(path.join(root, 'docs', 'connector-install.md'), path.join(out, 'INSTALL.md'));
  writeFileSync(path.join(out, 'VERSION'), `${require(path.join(root, 'package.json')).version}\n`);
  process.stdout.write(`built ${path.relative(root, out)}/so-connector.js\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`build failed: ${String(error)}\n`);
  process.exit(1);
});
