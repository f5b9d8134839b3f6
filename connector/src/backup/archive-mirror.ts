import pLimit, { type LimitFunction } from 'p-limit';
import { keyLayout, pathFields, type SkippedFile, type SnapshotFile, type SnapshotFolder, type SnapshotLink } from '../../../protocol';
import { ConnectorError } from '../errors';
import { attributesOf, HIDDEN, type HiddenAttribute, hiddenAttribute } from '../files/file-attributes';
import { displayName, hostPlatform, isPlainText, nameBytes } from '../files/file-names';
import { nsToMs, sameMtime } from '../files/file-times';
import { type ObjectStore, type PutOptions, type StoredObject, UploadPaused, type VersionFacts } from '../store/object-store';
import { type ArchiveIndex, type IndexEntry, indexEntry } from './archive-index';
import { hashFile } from '../repository/file-checksums';
import { adoptFromRemote, loadRemoteArchive, type RemoteArchive } from './archive-rebuild';
import { checkArchiveRoot } from '../doctor/archive-root-check';
import { currentFacts, type FileFacts, readFailure, RootUnreadable, type ScannedFile, scanRoot } from './archive-scan';

export interface ArchiveRoot {
  name: string;
  path: string;
}

export interface MirrorOptions {
  /** Files read, sent or copied at once. @default 24 */
  concurrency?: number;
  /** After each file (and once when the window's end is noticed): files checked or sent, bytes sent, and the window's state. */
  onProgress?(filesDone: number, bytesSent: number, window?: WindowProgress): void;
  /**
   * The end of the backup window. Once the clock has passed it, no file starts sending (the
   * clock is read between files, just before each upload): files in flight finish, the scan
   * goes on (so the counts are true), and every new or changed file not sent is counted in
   * `pending` for the next run. Renames (copies inside S3), delete markers and local reads go on:
   * they send no file's bytes. @default no window
   */
  windowEndsAt?: Date;
  /** The clock the window is checked against, in ms since the epoch (tests inject one). @default Date.now */
  now?: () => number;
  /**
   * Arms the alarm that rings at the window's end while files are in flight, and returns its
   * disarm. A multipart upload in flight when it rings pauses at its next safe point between
   * parts (the parts being sent finish, no new one starts, the store's checkpoint keeps them) and
   * counts as pending; the next run sends only the parts S3 does not have. A file sent in one PUT
   * finishes. @default a timer on this machine's clock; none when `now` is injected (the test rings it)
   */
  windowAlarm?: (windowEndsAt: Date, ring: () => void) => () => void;
  /**
   * The upload limit in force, bytes per second (null: unlimited). With a window, the files in
   * flight are kept to about what this limit sends in 10 s (always at least one file), so
   * the files that must finish after the window's end take about that long, not as long as 24
   * files sharing a slow link. @default unlimited
   */
  uploadRate?: () => number | null;
  signal?: AbortSignal;
  /**
   * The files (ids, "ROOT/relative path") the previous run left pending: sending one of them is
   * sending backlog (result `backlogSent`). Undefined when unknown (no record of the previous run's).
   */
  backlog?: ReadonlySet<string>;
  /** Memory for file contents in flight (the store's buffers); one file larger than this still goes, alone. @default 64 MiB */
  memoryBudgetBytes?: number;
  /** During a long run the index is saved this often, so a crash loses little. @default 30 s */
  checkpointEveryMs?: number;
  /** Reads the hidden attribute (Windows). @default the platform's */
  hiddenAttribute?: HiddenAttribute;
}

export interface MirrorResult {
  /** Files in this run's snapshot, and their bytes. */
  files: number;
  bytes: number;
  /**
   * Every file at this run at its exact version, in index order; made on demand, so that a
   * 100,000-file archive is not held in memory a second time.
   */
  snapshotFiles(): Generator<SnapshotFile>;
  emptyFolders: SnapshotFolder[];
  /** Every folder below the roots, with its time and mode (Linux). */
  folders: SnapshotFolder[];
  /** Symbolic links and junctions, recorded as links (never followed). */
  links: SnapshotLink[];
  /** Files opened in this run (to send them, or to compare their content): an unchanged file is not. */
  readFiles: number;
  /** Files with a new version made in this run (sent, or copied inside S3). */
  uploadedFiles: number;
  uploadedBytes: number;
  /** Of those, renamed or moved files copied inside S3 rather than sent again. */
  copiedFiles: number;
  deletedFiles: number;
  /** Files (or folders) that could not be read consistently; the run succeeds with warnings. */
  skipped: SkippedFile[];
  /** Set when the index was missing or damaged and was rebuilt from what S3 holds. */
  rebuilt?: { reason: string; adoptedFiles: number; snapshotRunId?: string };
  /**
   * New or changed files whose current content is not in S3 because the backup window ended
   * first, and their bytes (0 and 0 when all was sent). A changed one keeps its last version in
   * the snapshot; a new one is not in it. The index does not record them: the next run sends them.
   */
  pending: {
    files: number;
    bytes: number;
    /**
     * Of `bytes`, those already in S3 as whole parts of large files whose upload paused between
     * parts at the window's end: kept (with their checkpoints) for the next run, which does not
     * send them again. Not a version yet, so in neither `bytes` nor `uploadedBytes`.
     */
    partsBytes: number;
    /** Their ids ("ROOT/relative path"): the next run's `backlog`. */
    ids: string[];
  };
  /**
   * Of the files sent, those in `backlog` (the previous run left them pending), and their bytes
   * not already in S3 as parts of a paused upload. Undefined without a `backlog`.
   */
  backlogSent?: { files: number; bytes: number };
}

/** The backup window's state while the mirror runs. */
export interface WindowProgress {
  /** The window's end has passed: no file starts sending any more. */
  ended: boolean;
  /** Files being sent right now (they finish). */
  inFlight: number;
  /** Files left for the next run so far (the scan may find more). */
  pendingFiles: number;
}

/** `proven`: the birth time proves the candidate is the very file renamed; otherwise its content must (it is read and hashed first). */
type Task = { root: ArchiveRoot; id: string; file: ScannedFile; renamedFrom?: { id: string; entry: IndexEntry; proven: boolean } };

const ATTEMPTS = 3;
const RETRY_DELAY_MS = 250;

/**
 * Mirrors archive roots into S3 and returns the run's snapshot. A file whose size, mtime and
 * file id match the index is neither read nor sent. A new or changed file is read once, hashed
 * as it streams to S3, and becomes a new version; a renamed or moved file (same file id, birth
 * time, size and mtime under a new name; or, where the birth time cannot prove that, the same
 * SHA-256 read from disk) is copied inside S3; a file gone from disk gets a delete marker,
 * and no version is ever deleted. A file that cannot be read keeps its last good version in the
 * snapshot and is reported. A missing or damaged index is rebuilt from S3: files whose current
 * version provably holds the same bytes are adopted, not uploaded again.
 */
export async function mirrorArchive(
  tenantId: string,
  roots: ArchiveRoot[],
  store: ObjectStore,
  index: ArchiveIndex,
  options: MirrorOptions = {},
): Promise<MirrorResult> {
  // The snapshot is the index entries this run found (stamped with the run), not a second map:
  // at 100,000 files every per-file structure costs megabytes.
  const stamp = ++mirrorRuns;
  const inSnapshot = (id: string, entry: IndexEntry) => entry.run === stamp && inRoots(id, roots);
  const result: MirrorResult = {
    files: 0,
    bytes: 0,
    emptyFolders: [],
    folders: [],
    links: [],
    readFiles: 0,
    uploadedFiles: 0,
    uploadedBytes: 0,
    copiedFiles: 0,
    deletedFiles: 0,
    skipped: [],
    pending: { files: 0, bytes: 0, partsBytes: 0, ids: [] },
    ...(options.backlog ? { backlogSent: { files: 0, bytes: 0 } } : {}),
    *snapshotFiles() {
      for (const [id, entry] of index.entries) {
        if (!inSnapshot(id, entry)) continue;
        const [root, relative] = splitId(id);
        // Nearly every name is plain text: its path is itself, its key comes from the string.
        const plain = isPlainText(relative);
        const bytes = plain ? undefined : nameBytes(relative);
        yield {
          root,
          ...(bytes ? pathFields(bytes) : { path: relative }),
          key: keyLayout.archiveFile(tenantId, root, bytes ?? relative),
          versionId: entry.versionId,
          size: entry.size,
          mtimeMs: nsToMs(entry.mtimeNs),
          mtimeNs: entry.mtimeNs.toString(),
          attributes: attributesOf(entry.attributes),
          mode: entry.mode >= 0 ? entry.mode : undefined,
          sha256: entry.sha256,
          uploaded: entry.made,
          s3Checksum: entry.s3Checksum,
        };
      }
    },
  };
  const keyOf = (root: string, relative: string) =>
    keyLayout.archiveFile(tenantId, root, isPlainText(relative) ? relative : nameBytes(relative));
  const skip = (root: string, relative: string, reason: string) => result.skipped.push(skippedFile(root, relative, reason));
  const remote = index.found.state === 'loaded' ? undefined : await loadRemoteArchive(tenantId, store);
  /** Rebuilding only: every path scanned, to find the keys in S3 that no file maps to any more. */
  const scanned = remote ? new Set<string>() : undefined;
  if (remote)
    result.rebuilt = {
      reason: index.found.state === 'corrupt' ? `index damaged: ${index.found.problem}` : 'index missing',
      adoptedFiles: 0,
      snapshotRunId: remote.snapshotRunId,
    };

  // Work starts while the scan is still walking: the scan feeds a queue of reads, sends and
  // copies that run with bounded concurrency and memory, and the deletions join it at the end.
  const queue = new WorkQueue(options.concurrency ?? 24, options.signal);
  const working = queue.finished().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const every = options.checkpointEveryMs ?? 30_000;
  let lastSave = Date.now();
  let saving: Promise<void> | undefined;
  let done = 0;
  const budget = new ByteBudget(options.memoryBudgetBytes ?? 64 * 1024 * 1024);
  // The backup window: read between files, never by a timer that would cut an upload short.
  const now = options.now ?? Date.now;
  const windowEnd = options.windowEndsAt?.getTime();
  let windowEnded = false;
  let inFlight = 0;
  const windowProgress = (): WindowProgress | undefined =>
    windowEnd === undefined ? undefined : { ended: windowEnded, inFlight, pendingFiles: result.pending.files };
  /** True once the window's end has passed; the first time, progress says so (and how many files are still in flight). */
  const pastWindow = () => {
    if (windowEnded || windowEnd === undefined) return windowEnded;
    windowEnded = now() >= windowEnd;
    if (windowEnded) options.onProgress?.(done, result.uploadedBytes, windowProgress());
    return windowEnded;
  };
  /** Read between the parts of a file in flight (never during one): once the window ended, multipart uploads pause. */
  const pauseUploads = () => windowEnded;
  const alarm = options.windowAlarm ?? (options.now ? undefined : timerAlarm);
  const disarm =
    options.windowEndsAt && alarm
      ? alarm(options.windowEndsAt, () => {
          if (windowEnded) return;
          windowEnded = true;
          options.onProgress?.(done, result.uploadedBytes, windowProgress());
        })
      : () => undefined;
  let inFlightBytes = 0;
  const inFlightDone: Array<() => void> = [];
  /**
   * Whether a file may start sending: not once the window has ended. With a window and a limit,
   * it first waits until the file fits in what the limit sends in IN_FLIGHT_SECONDS (or nothing
   * is in flight). The check and the count are one step, so files starting together see each other.
   */
  /** The parts of one large file are held to the same budget: what the limit sends in IN_FLIGHT_SECONDS. */
  const partBytesInFlight = (): number | null => {
    const rate = windowEnd === undefined ? null : (options.uploadRate?.() ?? null);
    return rate === null ? null : rate * IN_FLIGHT_SECONDS;
  };
  const startSending = async (size: number): Promise<boolean> => {
    for (;;) {
      if (pastWindow()) return false;
      const rate = windowEnd === undefined ? null : (options.uploadRate?.() ?? null);
      if (rate === null || inFlight === 0 || inFlightBytes + size <= rate * IN_FLIGHT_SECONDS) {
        inFlight++;
        inFlightBytes += size;
        return true;
      }
      await new Promise<void>((resolve) => inFlightDone.push(resolve));
    }
  };
  /** Sends a file, unless the window has ended: then it waits for the next run (nothing of it is sent). */
  const sendInWindow = async (task: Task, key: string, reading: () => void) => {
    if (!(await startSending(task.file.size))) return { pending: true, bytesInStore: 0 } as const;
    reading();
    try {
      return await uploadConsistent(store, key, task.file, { pause: pauseUploads, partBytesInFlight });
    } finally {
      inFlight--;
      inFlightBytes -= task.file.size;
      for (const wake of inFlightDone.splice(0)) wake();
    }
  };
  const record = (task: Task, entry: IndexEntry, made: boolean) => {
    entry.run = stamp;
    entry.made = made;
    index.set(task.id, entry);
  };
  const handle = async (task: Task) => {
    // Each file opened counts once, whether it is hashed, sent, or both.
    let opened = false;
    const reading = () => {
      if (!opened) result.readFiles++;
      opened = true;
    };
    try {
      const key = keyOf(task.root.name, task.file.relative);
      const known = index.entries.get(task.id);
      const adopted = remote
        ? await adoptFromRemote(remote, store, key, task.file.diskPath, task.file, reading)
        : await sameContent(known, task.file, reading);
      if (adopted) {
        if (result.rebuilt) result.rebuilt.adoptedFiles++;
        record(task, adopted, false);
      } else {
        const copied = task.renamedFrom ? await copyRenamed(store, tenantId, task, key, reading) : undefined;
        const outcome = copied
          ? { entry: copied }
          : await budget.with(store.bufferBytesFor(task.file.size), () => sendInWindow(task, key, reading));
        if ('pending' in outcome) {
          // Not sent: a changed file keeps its last version in the snapshot (stamped by the scan),
          // a new one is not in it yet; the index does not record it, so the next run sends it.
          result.pending.files++;
          result.pending.bytes += task.file.size;
          result.pending.partsBytes += outcome.bytesInStore;
          result.pending.ids.push(task.id);
        } else if ('reason' in outcome) {
          // Reported; its last good version (if any, stamped by the scan) stays in the snapshot.
          skip(task.root.name, task.file.relative, outcome.reason);
        } else {
          record(task, outcome.entry, true);
          result.uploadedFiles++;
          result.uploadedBytes += outcome.entry.size;
          if (copied) result.copiedFiles++;
          else if (result.backlogSent && options.backlog?.has(task.id)) {
            result.backlogSent.files++;
            result.backlogSent.bytes += outcome.entry.size - ('resumedBytes' in outcome ? outcome.resumedBytes : 0);
          }
        }
      }
    } catch (error) {
      // One file that cannot be backed up never costs the run: it is reported, and its last good
      // version stays. Anything else (S3 unreachable, credentials) fails the run.
      const reason = perFileReason(error);
      if (reason === undefined) throw error;
      skip(task.root.name, task.file.relative, reason);
    }
    options.onProgress?.(++done, result.uploadedBytes, windowProgress());
    if (Date.now() - lastSave > every && !saving) {
      lastSave = Date.now();
      saving = index.save().finally(() => (saving = undefined));
    }
  };

  // Renames: a new name whose file id, size and mtime are those of a file the index knows may be
  // that very file: its version is copied inside S3. The file id alone proves nothing (a deleted
  // file's inode goes to the next file made), so the birth time must match too; where either
  // is unknown or they differ, the file is read and hashed first, and copied only when its
  // SHA-256 is the old version's.
  let byFileId: Map<string, string> | undefined;
  const renamedFrom = (file: ScannedFile): Task['renamedFrom'] => {
    if (!file.fileId) return undefined;
    if (!byFileId) {
      byFileId = new Map();
      for (const [id, entry] of index.entries) if (entry.fileId && inRoots(id, roots)) byFileId.set(entry.fileId, id);
    }
    const from = byFileId.get(file.fileId);
    const entry = from === undefined ? undefined : index.entries.get(from);
    if (!from || !entry || entry.size !== file.size || !sameMtime(entry.mtimeNs, file.mtimeNs, hostPlatform, entry.exactTime))
      return undefined;
    return { id: from, entry, proven: entry.birthNs !== 0n && entry.birthNs === file.birthNs };
  };

  // 1. Scan: every file found is stamped into the snapshot (a changed one with the version it
  //    had, until its new one is recorded); the changed and new ones become work.
  /** Files and folders that could not be read: what the index knows of them is kept, not deleted. */
  const unreadable: string[] = [];
  const hidden = options.hiddenAttribute ?? hiddenAttribute();
  try {
    for (const root of roots) {
      await scanRoot(
        root.path,
        {
          file: (file) => {
            const id = `${root.name}/${file.relative}`;
            const known = index.entries.get(id);
            if (known) known.run = stamp;
            scanned?.add(id);
            if (known && sameFile(known, file)) {
              // Unchanged. An older index's time becomes exact, its unknown birth time known, a changed attribute or mode is recorded: no read.
              if (!known.exactTime || known.attributes !== file.attributes || known.mode !== file.mode || known.birthNs !== file.birthNs)
                index.set(
                  id,
                  Object.assign(indexEntry(file, known.sha256, known.versionId, known.s3Checksum), { run: stamp, made: known.made }),
                );
              return;
            }
            const task: Task = { root, id, file, renamedFrom: known ? undefined : renamedFrom(file) };
            queue.push(() => handle(task));
          },
          emptyFolder: (relative) => result.emptyFolders.push({ root: root.name, ...pathFields(nameBytes(relative)) }),
          folder: (relative, facts) =>
            result.folders.push({
              root: root.name,
              ...pathFields(nameBytes(relative)),
              mtimeNs: facts.mtimeNs.toString(),
              ...(facts.mode >= 0 ? { mode: facts.mode } : {}),
            }),
          link: (link) => {
            const target = nameBytes(link.target);
            const fields = pathFields(target);
            result.links.push({
              root: root.name,
              ...pathFields(nameBytes(link.relative)),
              target: fields.path,
              ...(fields.pathBytes ? { targetBytes: fields.pathBytes } : {}),
              kind: link.kind,
            });
            // The link is kept; what it leads to outside the archive is not backed up: say so.
            if (link.leadsOutTo)
              skip(
                root.name,
                link.relative,
                `a link to ${truncate(link.leadsOutTo, 120)}, outside the archive: the link is kept, what it points to is not backed up (add that folder as an archive root to back it up)`,
              );
          },
          unreadable: (relative, reason) => {
            skip(root.name, relative, reason);
            unreadable.push(`${root.name}/${relative}`);
          },
        },
        {
          pause: () => queue.whenShorterThan(QUEUE_HIGH_WATER),
          hidden: await hidden.hiddenBelow(root.path),
          roots: roots.map((r) => r.path),
        },
      );
    }

    // 2. Gone from disk: a delete marker (the versions stay); kept when it could not be read.
    const keptBelow = (id: string) => unreadable.some((path) => id === path || id.startsWith(`${path}/`));
    for (const [id, entry] of index.entries) {
      if (entry.run === stamp || !inRoots(id, roots)) continue;
      if (keptBelow(id)) {
        entry.run = stamp;
        continue;
      }
      const [rootName, relative] = splitId(id);
      queue.push(async () => {
        await store.markDeleted(keyOf(rootName, relative));
        index.delete(id);
        result.deletedFiles++;
      });
    }
    if (remote && scanned)
      for (const job of deletionsFromRemote(tenantId, roots, remote, scanned, keptBelow, store, result)) queue.push(job);
  } catch (caught) {
    const error = caught instanceof RootUnreadable ? await rootProblem(roots, caught) : caught;
    queue.fail(error);
    await working;
    disarm();
    throw error;
  } finally {
    queue.close();
  }
  const failed = await working;
  disarm();
  await saving;
  if (failed) throw failed.error;

  for (const [id, entry] of index.entries) {
    if (!inSnapshot(id, entry)) continue;
    result.files++;
    result.bytes += entry.size;
  }
  return result;
}

/**
 * A root that cannot be listed, said as `doctor` says it: which of the share, the folder or the
 * access is wrong, and the fix. Nothing of that root is marked deleted (the run's archive part
 * fails before deletions); the other parts of the run go on.
 */
async function rootProblem(roots: ArchiveRoot[], unreadable: RootUnreadable): Promise<ConnectorError> {
  const code = (unreadable.cause as NodeJS.ErrnoException).code;
  const root = roots.find((r) => unreadable.rootPath === r.path) ?? { name: '?', path: unreadable.rootPath };
  const verdict = await checkArchiveRoot(root);
  const text = verdict.ok
    ? `${root.path}: cannot be listed (${code ?? unreadable.message})`
    : `${verdict.detail}${verdict.fix ? `: ${verdict.fix}` : ''}`;
  return new ConnectorError('ARCHIVE_ROOT_UNREADABLE', `archive root "${root.name}": ${text}`, { cause: unreadable.cause });
}

/** The window's alarm on this machine's clock (a timer, re-armed past Node's longest delay of about 24.8 days). */
function timerAlarm(windowEndsAt: Date, ring: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = windowEndsAt.getTime() - Date.now();
    if (left <= 0) return ring();
    timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    timer.unref(); // never keeps the process alive
  };
  arm();
  return () => clearTimeout(timer);
}

/** With a backup window and a bandwidth limit, the files in flight hold at most about this many seconds of the limit. */
const IN_FLIGHT_SECONDS = 10;

/** Work the scan may queue before it waits: a first run of 100,000 files is not held in memory as tasks. */
const QUEUE_HIGH_WATER = 2_000;

/** Numbers each mirror run, to stamp the index entries it finds. */
let mirrorRuns = 0;

/**
 * Unchanged: same size and mtime, and the same file id and birth time where both know one. The
 * mtime is the recorded one, or the one a restore of it writes (files/file-times.ts). The birth
 * time tells a file made again at the same path (deleted, then saved anew with the same size
 * and time, on the same reused inode) from the one recorded: that one is read and compared.
 */
function sameFile(known: IndexEntry, now: FileFacts): boolean {
  return (
    known.size === now.size &&
    sameMtime(known.mtimeNs, now.mtimeNs, hostPlatform, known.exactTime) &&
    (known.fileId === now.fileId || !known.fileId || !now.fileId) &&
    (known.birthNs === now.birthNs || known.birthNs === 0n || now.birthNs === 0n)
  );
}

/** Why one file cannot be backed up, when the reason is the file's own (undefined: a problem of the whole run). */
function perFileReason(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && PER_FILE_ERRORS.has(code)) return readFailure(error);
  // S3 refusing this one key (any name gets a key S3 accepts, so this is a safety net).
  const cause = error instanceof ConnectorError ? (error.cause as { name?: string } | undefined) : undefined;
  if (cause?.name && KEY_ERRORS.has(cause.name)) return `S3 refused this file's key (${cause.name})`;
  return undefined;
}

/** File system errors that concern one file or folder, not the archive. */
const PER_FILE_ERRORS = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EBUSY',
  'EIO',
  'ELOOP',
  'ENAMETOOLONG',
  'EINVAL',
  'EISDIR',
  'ENOTDIR',
  'EILSEQ',
  'ENXIO',
  'EOVERFLOW',
  'EFBIG',
  'ETXTBSY',
]);
const KEY_ERRORS = new Set(['InvalidObjectName', 'KeyTooLongError', 'InvalidURI']);

/** A skipped file as the manifest lists it: its name as text, long ones shortened (the list is for people). */
function skippedFile(root: string, relative: string, reason: string): SkippedFile {
  return { root, path: truncate(displayName(relative), 4096), reason: truncate(reason, 300) };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.floor(max / 2) - 1)}…${text.slice(text.length - Math.floor(max / 2) + 1)}`;
}

/**
 * A file with the same size and mtime but a new file id (restored from elsewhere, copied back
 * with its timestamps) is read to compare with the index: when the bytes are the same, nothing
 * is sent.
 */
async function sameContent(known: IndexEntry | undefined, file: ScannedFile, reading: () => void): Promise<IndexEntry | undefined> {
  if (!known || known.size !== file.size || !sameMtime(known.mtimeNs, file.mtimeNs, hostPlatform, known.exactTime)) return undefined;
  reading();
  const local = await hashFile(file.diskPath, Infinity);
  return local?.sha256 === known.sha256 ? indexEntry(file, known.sha256, known.versionId, known.s3Checksum) : undefined;
}

/**
 * A renamed file copied inside S3 from its old key's version. First the file on disk must be
 * the old version's content: proven by its birth time, or else read, hashed and compared (and
 * unchanged while read). Then S3's checksum of the copy must be the old version's: that proves
 * the copy, not the file. Undefined when either fails: then the file is sent.
 */
async function copyRenamed(
  store: ObjectStore,
  tenantId: string,
  task: Task,
  key: string,
  reading: () => void,
): Promise<IndexEntry | undefined> {
  const { id, entry, proven } = task.renamedFrom!;
  if (!proven) {
    reading();
    const local = await hashFile(task.file.diskPath, Infinity);
    if (local?.sha256 !== entry.sha256) return undefined;
    const after = await currentFacts(task.file.diskPath, (task.file.attributes & HIDDEN) !== 0).catch(() => undefined);
    if (!after || after.size !== task.file.size || after.mtimeNs !== task.file.mtimeNs) return undefined;
  }
  const [rootName, relative] = splitId(id);
  let facts: VersionFacts;
  try {
    facts = await store.copyVersion(keyLayout.archiveFile(tenantId, rootName, nameBytes(relative)), entry.versionId, key);
  } catch (error) {
    if (error instanceof ConnectorError && error.permanent && error.code !== 'S3_ACCESS_DENIED') throw error;
    return undefined;
  }
  const full = Buffer.from(entry.sha256, 'hex').toString('base64');
  if (facts.size !== entry.size || !facts.s3Checksum) return undefined;
  if (facts.s3Checksum.type === 'FULL_OBJECT' && facts.s3Checksum.value === full)
    return indexEntry(task.file, entry.sha256, facts.versionId);
  if (facts.s3Checksum.type === 'COMPOSITE' && facts.s3Checksum.value === entry.s3Checksum?.value)
    return indexEntry(task.file, entry.sha256, facts.versionId, entry.s3Checksum);
  return undefined;
}

/** Rebuilding: keys S3 holds as current under our roots that no file on disk maps to. */
function deletionsFromRemote(
  tenantId: string,
  roots: ArchiveRoot[],
  remote: RemoteArchive,
  seen: ReadonlySet<string>,
  keptBelow: (id: string) => boolean,
  store: ObjectStore,
  result: MirrorResult,
): Array<() => Promise<void>> {
  const seenKeys = new Set<string>();
  for (const id of seen) {
    const [root, relative] = splitId(id);
    seenKeys.add(keyLayout.archiveFile(tenantId, root, nameBytes(relative)));
  }
  const prefixes = roots.map((root) => keyLayout.archiveRoot(tenantId, root.name));
  const byKey = new Map([...remote.previous.values()].map((f) => [f.key, `${f.root}/${f.path}`]));
  const deletions: Array<() => Promise<void>> = [];
  for (const key of remote.latest.keys()) {
    if (seenKeys.has(key) || !prefixes.some((prefix) => key.startsWith(prefix))) continue;
    const id = byKey.get(key);
    if (id && keptBelow(id)) continue;
    deletions.push(async () => {
      await store.markDeleted(key);
      result.deletedFiles++;
    });
  }
  return deletions;
}

function inRoots(id: string, roots: ArchiveRoot[]): boolean {
  const rootName = id.slice(0, id.indexOf('/'));
  return roots.some((root) => root.name === rootName);
}

function splitId(id: string): [root: string, relative: string] {
  const at = id.indexOf('/');
  return [id.slice(0, at), id.slice(at + 1)];
}

/**
 * Jobs run as they are pushed, at most `concurrency` at once (p-limit); `finished` settles once the
 * queue is closed and every job has settled, or with the first job's error (the jobs still waiting
 * are then dropped; those running finish first).
 */
class WorkQueue {
  private readonly limit: LimitFunction;
  private outstanding = 0;
  private closed = false;
  private failure: unknown;
  private readonly done: Promise<void>;
  private settle!: () => void;
  private readonly roomWaiters: Array<{ below: number; resolve: () => void }> = [];

  constructor(
    concurrency: number,
    private readonly signal?: AbortSignal,
  ) {
    this.limit = pLimit({ concurrency, rejectOnClear: true });
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  push(job: () => Promise<void>): void {
    if (this.failure !== undefined) throw this.failure;
    this.outstanding++;
    this.limit(async () => {
      if (this.roomWaiters.length > 0) this.wakeRoomWaiters();
      if (this.failure !== undefined) return;
      this.signal?.throwIfAborted();
      await job();
    })
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.outstanding--;
        this.settleWhenDone();
      });
  }

  get pending(): number {
    return this.limit.pendingCount;
  }

  /** undefined when fewer than `below` jobs wait; otherwise a promise that settles when they do (or the queue fails). */
  whenShorterThan(below: number): Promise<void> | undefined {
    if (this.pending < below || this.failure !== undefined) return undefined;
    return new Promise((resolve) => this.roomWaiters.push({ below: Math.max(1, Math.floor(below / 2)), resolve }));
  }

  private wakeRoomWaiters(): void {
    for (let i = this.roomWaiters.length - 1; i >= 0; i--) {
      const waiter = this.roomWaiters[i]!;
      if (this.pending < waiter.below || this.failure !== undefined) {
        this.roomWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** Stops after the jobs that are running; the rest are dropped. */
  fail(error: unknown): void {
    this.failure ??= error;
    this.limit.clearQueue();
    this.close();
  }

  close(): void {
    this.closed = true;
    this.wakeRoomWaiters();
    this.settleWhenDone();
  }

  async finished(): Promise<void> {
    await this.done;
    if (this.failure !== undefined) throw this.failure;
  }

  private settleWhenDone(): void {
    if (this.closed && this.outstanding === 0) this.settle();
  }
}

/** Bounds the bytes held by uploads in flight; a request larger than the whole budget waits until it is alone. */
class ByteBudget {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async with<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    while (this.used > 0 && this.used + bytes > this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.used += bytes;
    try {
      return await work();
    } finally {
      this.used -= bytes;
      for (const wake of this.waiting.splice(0)) wake();
    }
  }
}

/**
 * Uploads a file whose size and mtime stay the same while it is read; a file that changes
 * (someone saving it) or is locked is tried again, then reported.
 */
async function uploadConsistent(
  store: ObjectStore,
  key: string,
  scanned: ScannedFile,
  put: Pick<PutOptions, 'pause' | 'partBytesInFlight'>,
): Promise<{ entry: IndexEntry; resumedBytes: number } | { reason: string } | { pending: true; bytesInStore: number }> {
  let reason = '';
  const file = scanned.diskPath;
  const hidden = (scanned.attributes & HIDDEN) !== 0;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const before = await currentFacts(file, hidden);
      const stored: StoredObject = await store.putFile(key, file, put);
      const after = await currentFacts(file, hidden);
      if (before.size === after.size && before.mtimeNs === after.mtimeNs && stored.size === after.size) {
        // Parts an earlier run sent (a paused upload resumed) were not sent now.
        const resumedBytes = stored.resumedParts ? Math.min(stored.size, stored.resumedParts * store.partSizeFor(stored.size)) : 0;
        return { entry: indexEntry(after, stored.sha256, stored.versionId, stored.s3Checksum), resumedBytes };
      }
      reason = `changed while being read (${ATTEMPTS} attempts)`;
    } catch (error) {
      // Paused between parts at the window's end: the parts sent are kept for the next run.
      if (error instanceof UploadPaused) return { pending: true, bytesInStore: error.bytesInStore };
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EBUSY' && code !== 'EAGAIN' && !(error instanceof ConnectorError && error.code === 'FILE_CHANGED')) {
        if (code === 'EACCES' || code === 'EPERM' || code === 'ENOENT') return { reason: readFailure(error) };
        throw error;
      }
      reason = code === 'EBUSY' ? `locked by another program (${ATTEMPTS} attempts)` : `changed while being read (${ATTEMPTS} attempts)`;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
  }
  return { reason };
}
