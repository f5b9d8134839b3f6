import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sameMtime } from '../../connector/src/files/file-times';
import { runConnectorRestore } from '../../local/so-backup-cli';
import { type LocalRunSummary, runLocalMode, stopLocalMode } from '../../local/local-mode';
import { rgwOwnerKey } from '../../local/ceph-rgw';
import { type Manifest, manifestSchema } from '../../protocol';
import { exactTree, writeBytes } from '../helpers/exact-tree';
import { cephChroot, describeWith } from '../helpers/prerequisites';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';

/**
 * Issue 17's round trip: one SO_ARC tree holding every case, backed up by the real connector
 * through local mode (Ceph RGW, the validator, the state machines), restored with the real
 * `so-connector restore`, compared byte for byte and name for name, with times and attributes;
 * then the server is lost (no index) and the next backup of the restored tree reads no file.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'so-backup-roundtrip-'));
const portBase = TEST_PORT_BLOCKS.archiveRoundTripE2e;
// Outside dataDir: a fresh local mode starts by emptying it.
const work = mkdtempSync(path.join(tmpdir(), 'so-backup-roundtrip-tree-'));
const tree = path.join(work, 'SO_ARC');
const outside = path.join(work, 'elsewhere');

/** Every case of issue 17 that Linux can hold, and the ones that passed before it. */
function buildTree(): void {
  mkdirSync(tree, { recursive: true });
  mkdirSync(outside);
  const put = (relative: string, content: string | Buffer, time?: string) => {
    const file = writeBytes(tree, Buffer.from(relative), content);
    if (time) execFileSync('touch', ['-m', '-d', `@${time}`, file.toString()]);
  };
  // 1. Names of 249 and 255 bytes.
  put(`ANNA/${'Tilbud til kunde '.repeat(14)}${'x'.repeat(6)}.docx`, 'a 249-byte name');
  put(`ANNA/${'ø'.repeat(125)}.docx`, 'a 255-byte name');
  // 2. A 1,041-byte path: its plain key would be over S3's 1,024 bytes.
  const folders = Array.from({ length: 4 }, (_, i) => `${i} ${'Kunder og prosjekter '.repeat(11)}`.slice(0, 230)).join('/');
  put(`${folders}/${'d'.repeat(1041 - folders.length - 6)}.docx`, 'deep');
  // 3. Names that are not UTF-8: a Latin-1 file in a Latin-1 folder.
  writeBytes(tree, Buffer.from('S\xf8knader/caf\xe9.txt', 'latin1'), 'Latin-1');
  // 4. Links: a folder outside the root with 3 documents, a file link, a loop, a dangling one; a FIFO.
  for (const n of [1, 2, 3]) writeFileSync(path.join(outside, `doc${n}.docx`), `outside ${n}`);
  symlinkSync(outside, path.join(tree, 'linked folder'));
  symlinkSync('ANNA/notes.txt', path.join(tree, 'notes link.txt'));
  symlinkSync('loop-b', path.join(tree, 'loop-a'));
  symlinkSync('loop-a', path.join(tree, 'loop-b'));
  symlinkSync('/nowhere/at/all', path.join(tree, 'dangling'));
  execFileSync('mkfifo', [path.join(tree, 'pipe')]);
  // 5. Times with sub-millisecond parts.
  put('ANNA/notes.txt', 'notes', '1764000000.123456789');
  put('ANNA/2026.11/mail.eml', 'mail', '1764000000.999999900');
  // 9. NFD and NFC names side by side, a read-only file, names that differ only in case.
  put(`ANNA/${'Tilbud Åse Müller.docx'.normalize('NFD')}`, 'decomposed');
  put('ANNA/Tilbud Åse Müller.docx', 'composed');
  put('ANNA/read-only.pdf', 'read-only');
  chmodSync(path.join(tree, 'ANNA', 'read-only.pdf'), 0o444);
  // Permissions: a program stays executable, a private file private (issue 17, attacked).
  put('PER/run.sh', '#!/bin/sh\n');
  chmodSync(path.join(tree, 'PER', 'run.sh'), 0o755);
  put('PER/private.txt', 'private');
  chmodSync(path.join(tree, 'PER', 'private.txt'), 0o600);
  put('PER/Report.docx', 'upper');
  put('PER/report.docx', 'lower');
  // What passed before: odd and control characters, leading and trailing spaces, empty files and folders, a sparse file.
  put('PER/a:b?c*"d<e>f|g.txt', 'odd');
  put('PER/line\nbreak\u0001.txt', 'control');
  put('PER/ leading and trailing .txt ', 'spaces');
  put('PER/empty.txt', '');
  mkdirSync(path.join(tree, 'KARI', '2026.12'), { recursive: true });
  const sparse = path.join(tree, 'PER', 'sparse.bin');
  writeFileSync(sparse, 'start');
  truncateSync(sparse, 12 * 1024 * 1024);
  put('PER/case rename.docx', 'renamed only in case before the second backup');
}

async function manifestOf(summary: LocalRunSummary): Promise<Manifest> {
  // Local mode's S3 speaks TLS only, under its own CA.
  const s3 = new S3Client({
    endpoint: summary.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: rgwOwnerKey(path.join(dataDir, 'ceph')),
    requestHandler: { httpsAgent: new https.Agent({ ca: readFileSync(summary.caBundle) }) },
  });
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: summary.bucket, Key: summary.manifestKey! }));
    return manifestSchema.parse(JSON.parse(await out.Body!.transformToString()));
  } finally {
    s3.destroy();
  }
}

function restore(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runConnectorRestore(dataDir, args);
}

describeWith([cephChroot], 'issue 17: one tree with every case, backed up through Ceph RGW and restored exactly', () => {
  jest.setTimeout(900_000);
  afterAll(async () => {
    await stopLocalMode(dataDir);
    rmSync(dataDir, { recursive: true, force: true }); // a Ceph cluster: ~800 MB
    execFileSync('chmod', ['-R', 'u+w', work]);
    rmSync(work, { recursive: true, force: true });
  });

  test('GIVEN the tree WHEN backed up (twice, a case-only rename between), restored with so-connector restore, and backed up again from the restored tree without an index THEN every name, byte, time and attribute is back, and nothing is read again', async () => {
    buildTree();
    const first = await runLocalMode({ dataDir, portBase, fresh: true, keep: true, archiveDir: tree, log: () => undefined });
    expect(first.failure).toBeUndefined();
    // Warnings, not a failure: the FIFO, and the folder the link leads to outside the archive.
    expect(first).toMatchObject({ status: 'SUCCEEDED_WITH_WARNINGS', validated: true });
    const firstArchive = (await manifestOf(first)).archive!;
    expect(firstArchive).toMatchObject({ files: 19, links: 5, skippedFiles: 2 });
    expect(firstArchive.skipped.map((s) => s.path).sort()).toEqual(['linked folder', 'pipe']);

    renameSync(path.join(tree, 'PER', 'case rename.docx'), path.join(tree, 'PER', 'CASE RENAME.docx'));
    const second = await runLocalMode({ dataDir, portBase, keep: true, archiveDir: tree, log: () => undefined });
    expect(second).toMatchObject({ validated: true });
    expect((await manifestOf(second)).archive).toMatchObject({
      files: 19,
      uploadedFiles: 1,
      copiedFiles: 1,
      deletedFiles: 1,
      readFiles: 0,
    });

    const restored = path.join(work, 'restored');
    const result = await restore('--archive-to', restored);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      runId: second.runId,
      archive: { files: 19, links: 5, folders: 1, renamed: [], failed: [] },
    });
    const original = exactTree(tree);
    delete original[Buffer.from('pipe').toString('hex')]; // a FIFO is no document
    expect(exactTree(path.join(restored, 'SO_ARC'))).toEqual(original);
    for (const [hex] of Object.entries(original).filter(([, content]) => !content.startsWith('->') && content !== '<empty folder>')) {
      const before = statSync(Buffer.concat([Buffer.from(`${tree}/`), Buffer.from(hex, 'hex')]), { bigint: true });
      const after = statSync(Buffer.concat([Buffer.from(`${restored}/SO_ARC/`), Buffer.from(hex, 'hex')]), { bigint: true });
      expect(sameMtime(before.mtimeNs, after.mtimeNs, 'posix')).toBe(true);
      expect({ hex, mode: (after.mode & 0o7777n).toString(8) }).toEqual({ hex, mode: (before.mode & 0o7777n).toString(8) }); // read-only, executable, private: exact
    }

    // The server is lost: a new one holds the restored tree and no index. Its first backup reads, sends and deletes nothing.
    rmSync(path.join(dataDir, 'connector', 'state', 'archive-index.json'));
    const third = await runLocalMode({ dataDir, portBase, keep: true, archiveDir: path.join(restored, 'SO_ARC'), log: () => undefined });
    expect(third).toMatchObject({ validated: true });
    expect((await manifestOf(third)).archive).toMatchObject({
      files: 19,
      links: 5,
      uploadedFiles: 0,
      deletedFiles: 0,
      readFiles: 0,
      skippedFiles: 1,
    });

    // Putting files back into the live archive while another program holds one: it is named, nothing partial is left, the rest is restored, exit 1.
    const live = path.join(restored, 'SO_ARC', 'PER');
    writeFileSync(path.join(live, 'empty.txt'), 'damaged');
    writeFileSync(path.join(live, 'CASE RENAME.docx'), 'damaged');
    execFileSync('chattr', ['+i', path.join(live, 'empty.txt')]);
    try {
      const intoLive = await restore('--into-live', '--yes');
      expect(intoLive.code).toBe(1);
      // Only the damaged file is written; the 17 still exactly as backed up are checked and left alone.
      expect(JSON.parse(intoLive.stdout).archive).toMatchObject({
        files: 1,
        unchanged: 17,
        failed: [{ path: 'SO_ARC/PER/empty.txt', reason: expect.stringMatching(/^access denied/) }],
      });
    } finally {
      execFileSync('chattr', ['-i', path.join(live, 'empty.txt')]);
    }
    expect(readFileSync(path.join(live, 'CASE RENAME.docx'), 'utf8')).toBe('renamed only in case before the second backup');
    expect(readdirSync(live).filter((name) => name.startsWith('.sob-'))).toEqual([]);
  });
});
