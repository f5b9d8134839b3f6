import { statSync } from 'node:fs';
import { ArchiveIndex } from '../../connector/src/backup';

/**
 * Makes sure the index's entry `id` (a file deleted since it was backed up) carries the file id
 * that `newFile` got, as when the file system hands the freed inode to the next file made. ext4
 * usually does, but skips an inode deleted seconds ago when its table block is still being
 * written back, and other processes on the machine may take it first; then the index is made to
 * say what it would have said, so the test always exercises a reused inode. The entry keeps its
 * own birth time: that is what tells the two files apart.
 * @returns whether the file system reused the inode by itself
 */
export async function withReusedInode(stateDir: string, id: string, newFile: string): Promise<boolean> {
  const ino = statSync(newFile).ino.toString();
  const index = await ArchiveIndex.load(stateDir);
  const entry = index.entries.get(id);
  if (!entry) throw new Error(`the index has no entry ${id}`);
  if (entry.fileId === ino) return true;
  index.set(id, { ...entry, fileId: ino });
  await index.save();
  return false;
}
