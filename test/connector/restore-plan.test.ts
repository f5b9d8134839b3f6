import { pathFields, type SnapshotFile } from '../../protocol';
import { checkRestoreChoices, stagingName } from '../../connector/src/restore/restore-run';
import { planRestore, type RestoreEntry } from '../../connector/src/restore/restore-plan';
import { comparablePath, defaultSemantics, foldName, isSameOrInside, overlaps } from '../../connector/src/restore/target-paths';

const windows = defaultSemantics('win32');
const linux = defaultSemantics('linux');
const mac = defaultSemantics('darwin');

const file = (relative: string | Buffer, root = 'SO_ARC'): RestoreEntry => ({
  kind: 'file',
  entry: {
    root,
    ...pathFields(typeof relative === 'string' ? Buffer.from(relative) : relative),
    key: 'k',
    versionId: 'v',
    size: 1,
    mtimeMs: 0,
    sha256: 'a'.repeat(64),
    uploaded: false,
  } satisfies SnapshotFile,
});

describe('paths compared as the target file system compares them (Windows semantics)', () => {
  test('case, separators, trailing separators and the \\\\?\\ prefix do not make another path on Windows', () => {
    expect(comparablePath('c:\\so_arc\\EmptyFolder\\', windows)).toBe(comparablePath('C:\\SO_ARC\\emptyfolder', windows));
    expect(comparablePath('\\\\?\\C:\\SO_ARC', windows)).toBe(comparablePath('C:/SO_ARC', windows));
    expect(comparablePath('\\\\?\\UNC\\fileserver\\Share\\SO_ARC', windows)).toBe(
      comparablePath('\\\\FILESERVER\\share\\so_arc\\', windows),
    );
    expect(comparablePath('D:\\', windows)).toBe('D:\\');
    expect(foldName('ß', windows)).toBe('ß'); // NTFS's upcase table maps one unit to one unit
    expect(comparablePath('/srv/SO_ARC', linux)).not.toBe(comparablePath('/srv/so_arc', linux));
  });

  test("GIVEN the live archive C:\\SO_ARC WHEN --archive-to c:\\so_arc\\emptyfolder (the issue's case) THEN it is inside the live archive; a drive root holds it; a sibling does not", async () => {
    expect(isSameOrInside('c:\\so_arc\\emptyfolder', 'C:\\SO_ARC', windows)).toBe(true);
    expect(overlaps('D:\\', 'D:\\SO_ARC', windows)).toBe(true);
    expect(overlaps('D:\\SO_ARC-restore', 'D:\\SO_ARC', windows)).toBe(false);
    expect(overlaps('/srv/so_arc/x', '/srv/SO_ARC', linux)).toBe(false);
    const live = [{ name: 'SO_ARC', path: 'C:\\SO_ARC' }];
    await expect(checkRestoreChoices({ archiveTo: 'c:\\so_arc\\emptyfolder', liveRoots: live, semantics: windows })).rejects.toMatchObject({
      code: 'RESTORE_INTO_LIVE_ARCHIVE',
    });
    await expect(checkRestoreChoices({ archiveTo: '\\\\?\\C:\\so_arc\\', liveRoots: live, semantics: windows })).rejects.toMatchObject({
      code: 'RESTORE_INTO_LIVE_ARCHIVE',
    });
    await expect(checkRestoreChoices({ archiveTo: 'C:\\', liveRoots: live, semantics: windows })).rejects.toMatchObject({
      code: 'RESTORE_INTO_LIVE_ARCHIVE',
    });
  });

  test('GIVEN the archive at a drive root (D:\\SO_ARC) WHEN --into-live THEN nothing asks for D:\\ to be empty: each root goes back into its own folder; --archive-to with it is refused', async () => {
    const live = [{ name: 'SO_ARC', path: 'D:\\SO_ARC' }];
    await expect(checkRestoreChoices({ intoLive: true, liveRoots: live, semantics: windows })).resolves.toBeUndefined();
    await expect(
      checkRestoreChoices({ intoLive: true, file: 'SO_ARC/ANNA/offer.docx', liveRoots: live, semantics: windows }),
    ).resolves.toBeUndefined();
    await expect(checkRestoreChoices({ intoLive: true, archiveTo: 'D:\\', liveRoots: live, semantics: windows })).rejects.toMatchObject({
      code: 'RESTORE_ARGUMENTS',
    });
    await expect(checkRestoreChoices({ intoLive: true, liveRoots: [], semantics: windows })).rejects.toMatchObject({
      code: 'RESTORE_ARGUMENTS',
    });
  });
});

describe('the restore plan: every name placed, none merged', () => {
  test('GIVEN two names that differ only in case (made from Linux on a share) WHEN restored to Windows THEN the first keeps its name and the second is restored under a conflict name, reported', () => {
    const plan = planRestore([file('ANNA/Tilbud.docx'), file('ANNA/tilbud.docx'), file('ANNA/other.docx')], windows);
    expect(plan.map((p) => [p.relative, p.renamed !== undefined])).toEqual([
      ['ANNA/Tilbud.docx', false],
      ['ANNA/other.docx', false],
      ['ANNA/tilbud (conflict 2).docx', true],
    ]);
    expect(plan[2]!.renamed).toMatch(/"tilbud.docx" and "Tilbud.docx" are one name on this file system/);
    // On Linux they are two names: both exact.
    expect(planRestore([file('ANNA/Tilbud.docx'), file('ANNA/tilbud.docx')], linux).every((p) => !p.renamed)).toBe(true);
  });

  test('GIVEN folders that differ only in case THEN their files land in one folder and each such file says so; a file and a folder of one name are kept apart', () => {
    const plan = planRestore([file('ANNA/a.txt'), file('anna/b.txt'), file('X'), file('x/c.txt')], windows);
    expect(plan.find((p) => p.relative.endsWith('b.txt'))).toMatchObject({
      relative: 'ANNA/b.txt',
      renamed: expect.stringMatching(/folder "anna" restored into "ANNA"/),
    });
    expect(plan.find((p) => p.relative.endsWith('c.txt'))).toMatchObject({
      relative: 'x (conflict 2)/c.txt',
      renamed: expect.stringMatching(/a file of the same name/),
    });
  });

  test('GIVEN names in NFC and NFD THEN both are exact on Windows and Linux; macOS, which normalizes, gets a reported conflict', () => {
    const entries = [file('café.txt'), file('cafe\u0301.txt')];
    expect(planRestore(entries, windows).map((p) => p.relative)).toEqual(['cafe\u0301.txt', 'café.txt']);
    expect(planRestore(entries, mac).filter((p) => p.renamed)).toHaveLength(1);
  });

  test('GIVEN Linux names Windows cannot hold (not Unicode, or with : or \\) THEN they are replaced and reported; the exact bytes stay for Linux', () => {
    const latin1 = Buffer.from('caf\xe9.txt', 'latin1');
    const plan = planRestore([file(latin1), file('a:b.txt'), file('back\\slash.txt')], windows);
    expect(plan.map((p) => p.relative)).toEqual(['a_b.txt', 'back_slash.txt', 'caf\ufffd.txt']);
    expect(plan.every((p) => p.renamed)).toBe(true);
    expect(planRestore([file(latin1)], linux)[0]).toEqual({ item: expect.anything(), relative: 'caf\udce9.txt' });
  });

  test("GIVEN a name Windows cannot hold whose replacement is another file's exact name WHEN restored to Windows THEN the exact name keeps its place and the replaced one gets a conflict name; two folders whose names become one stay two", () => {
    const plan = planRestore(
      [file('a:b.txt'), file('a_b.txt'), file('f:g/x.txt'), file('f_g/y.txt'), file('p:q/1.txt'), file('p?q/2.txt')],
      windows,
    );
    const where = Object.fromEntries(plan.map((p) => [p.item.entry.path, p.relative]));
    expect(where).toEqual({
      'a_b.txt': 'a_b.txt',
      'a:b.txt': 'a_b (conflict 2).txt',
      'f_g/y.txt': 'f_g/y.txt',
      'f:g/x.txt': 'f_g (conflict 2)/x.txt',
      'p:q/1.txt': 'p_q/1.txt',
      'p?q/2.txt': 'p_q (conflict 2)/2.txt',
    });
    expect(
      plan
        .filter((p) => p.renamed === undefined)
        .map((p) => p.relative)
        .sort(),
    ).toEqual(['a_b.txt', 'f_g/y.txt']);
    expect(plan.find((p) => p.item.entry.path === 'f:g/x.txt')!.renamed).toMatch(
      /folder "f_g" restored as "f_g \(conflict 2\)": "f_g" has that name on this file system/,
    );
  });

  test('GIVEN device names and names ending in a dot or a space (from Linux, or made on NTFS through \\\\?\\) WHEN restored to Windows THEN each is given a name programs can open, and reported; Linux keeps them', () => {
    const names = [
      'CON',
      'nul.txt',
      'Aux.tar.gz',
      'COM1.log',
      'lpt\u00b9',
      'x.',
      'y ',
      'z. .',
      'PRN/inside.txt',
      'CONSOLE.txt',
      'com10.txt',
      'NULL',
    ];
    const plan = planRestore(
      names.map((n) => file(n)),
      windows,
    );
    const where = Object.fromEntries(plan.map((p) => [p.item.entry.path, [p.relative, p.renamed !== undefined]]));
    expect(where).toEqual({
      CON: ['CON_', true],
      'nul.txt': ['nul_.txt', true],
      'Aux.tar.gz': ['Aux_.tar.gz', true],
      'COM1.log': ['COM1_.log', true],
      'lpt\u00b9': ['lpt\u00b9_', true],
      'x.': ['x_', true],
      'y ': ['y_', true],
      'z. .': ['z___', true],
      'PRN/inside.txt': ['PRN_/inside.txt', true],
      'CONSOLE.txt': ['CONSOLE.txt', false],
      'com10.txt': ['com10.txt', false],
      NULL: ['NULL', false],
    });
    expect(plan.find((p) => p.item.entry.path === 'nul.txt')!.renamed).toMatch(
      /"nul.txt" is a device name Windows reserves .*restored as "nul_.txt"/,
    );
    expect(plan.find((p) => p.item.entry.path === 'x.')!.renamed).toMatch(/ends in a dot or a space/);
    expect(
      planRestore(
        names.map((n) => file(n)),
        linux,
      ).every((p) => !p.renamed && p.relative === p.item.entry.path),
    ).toBe(true);
  });
});

test('the downloaded .bak\'s name stays within 255 bytes (with ".partial.json") whatever the database is called', () => {
  expect(stagingName('acme-2026-11-25-daily', 'SuperOffice')).toBe('restore-acme-2026-11-25-daily-SuperOffice.bak');
  const long = stagingName('acme-2026-11-25-daily', 'Ø'.repeat(128));
  expect(long).toMatch(/^restore-acme-2026-11-25-daily-Ø{45}-[0-9a-f]{8}\.bak$/); // a Windows-safe name of at most 90 bytes, then its hash
  expect(Buffer.byteLength(`${long}.partial.json`)).toBeLessThanOrEqual(255);
});
