// `tsx scripts/build/inspect-windows-exe.ts <exe>`: what a built so-connector.exe holds, as JSON —
// its version resource and the end of its SEA blob (where Node.js keeps the built-in execArgv).
// resedit is an ES module, so tests (CommonJS under jest) ask through this script.
import { readSeaBlob, readVersionResource } from './windows-exe';

async function main(exe: string): Promise<void> {
  const blob = await readSeaBlob(exe);
  process.stdout.write(
    `${JSON.stringify({
      version: await readVersionResource(exe),
      seaBlob: blob
        ? {
            size: blob.length,
            tailBase64: blob.subarray(Math.max(0, blob.length - 4096)).toString('base64'),
            holdsTheConnector: blob.includes('so-backup connector: backs up SQL Server and SO_ARC'),
          }
        : null,
    })}\n`,
  );
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  process.stderr.write(`inspect-windows-exe: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
