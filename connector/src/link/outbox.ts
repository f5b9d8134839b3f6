import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseMessage, type ResultMessage } from '../../../protocol';

/**
 * Results waiting for the cloud's acknowledgement, one file per run, so that a result survives
 * disconnects and connector restarts and is delivered at least once (the cloud is idempotent).
 */
export class Outbox {
  constructor(private readonly dir: string) {}

  private file(runId: string) {
    return path.join(this.dir, `${runId}.json`);
  }

  async add(message: ResultMessage): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temporary = `${this.file(message.runId)}.tmp`;
    await writeFile(temporary, JSON.stringify(message));
    await rename(temporary, this.file(message.runId));
  }

  async all(): Promise<ResultMessage[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json')).sort();
    } catch {
      return [];
    }
    const messages: ResultMessage[] = [];
    for (const name of names) {
      try {
        const message = parseMessage('connector', await readFile(path.join(this.dir, name), 'utf8'));
        if (message.type === 'result') messages.push(message);
      } catch {
        // a torn file cannot be sent; the run will time out and be reported by the cloud
      }
    }
    return messages;
  }

  async remove(runId: string): Promise<void> {
    await rm(this.file(runId), { force: true });
  }

  async has(runId: string): Promise<boolean> {
    return (await this.all()).some((m) => m.runId === runId);
  }
}
