import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Every .ts file below a folder of the repository, as [path from the root, text]. */
function sources(folder: string): Array<[string, string]> {
  return readdirSync(path.join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => [path.join(folder, file), readFileSync(path.join(ROOT, folder, file), 'utf8')]);
}

/** The repository folders a file imports from (its relative imports, resolved to their first `depth` folders: 1 = top level). */
function importedFolders(file: string, text: string, depth = 1): string[] {
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((spec) =>
    path
      .relative(ROOT, path.resolve(ROOT, path.dirname(file), spec))
      .split(path.sep)
      .slice(0, depth)
      .join('/'),
  );
}

describe('layers (docs/architecture.md)', () => {
  test('the CLI reaches the cloud through core/ and local mode through its outputs file: no file under cli/ imports functions/ or local/', () => {
    const offenders = sources('cli').flatMap(([file, text]) =>
      importedFolders(file, text)
        .filter((f) => f === 'functions' || f === 'local')
        .map((f) => `${file} → ${f}/`),
    );
    expect(offenders).toEqual([]);
  });

  test('the connector shares only protocol/ with the cloud: no file under connector/ imports core/, functions/, cli/ or local/', () => {
    const offenders = sources('connector/src').flatMap(([file, text]) =>
      importedFolders(file, text)
        .filter((f) => ['core', 'functions', 'cli', 'local'].includes(f))
        .map((f) => `${file} → ${f}/`),
    );
    expect(offenders).toEqual([]);
  });

  test('core/ depends on protocol/ only and reads no environment (callers pass clients, tables and settings)', () => {
    const files = sources('core');
    expect(files.length).toBeGreaterThan(5);
    const offenders = files.flatMap(([file, text]) => [
      ...importedFolders(file, text)
        .filter((f) => f !== 'core' && f !== 'protocol')
        .map((f) => `${file} → ${f}/`),
      ...(/process\.env/.test(text) ? [`${file} reads process.env`] : []),
    ]);
    expect(offenders).toEqual([]);
  });

  test("the connector's backup and restore depend on its repository layer, never on each other", () => {
    const offenders = (['backup', 'restore'] as const).flatMap((domain) => {
      const other = domain === 'backup' ? 'connector/src/restore' : 'connector/src/backup';
      return sources(`connector/src/${domain}`).flatMap(([file, text]) =>
        importedFolders(file, text, 3)
          .filter((f) => f === other)
          .map((f) => `${file} → ${f}/`),
      );
    });
    expect(offenders).toEqual([]);
    expect(
      sources('connector/src/restore').some(([file, text]) => importedFolders(file, text, 3).includes('connector/src/repository')),
    ).toBe(true);
  });
});
