import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * What some suites need beyond npm packages. Where one is missing, the suite is skipped with the
 * reason — except under CI=true, where a missing prerequisite is a failure (CI must install it).
 */
export interface Prerequisite {
  ok: boolean;
  missing: string;
}

const CEPH_ROOT = process.env.SO_BACKUP_CEPH_ROOT ?? '/var/cache/so-backup/ceph-root';

/** The Ceph RADOS Gateway chroot that scripts/ceph-chroot.sh builds. */
export const cephChroot: Prerequisite = {
  ok: existsSync(path.join(CEPH_ROOT, '.so-backup-ready')),
  missing: `the Ceph chroot ${CEPH_ROOT} is not built (run scripts/test-prerequisites.sh as root)`,
};

/** Debian's AWS CLI, an S3 client independent of the code under test. */
export const awsCli: Prerequisite = {
  ok: existsSync('/usr/bin/aws'),
  missing: "Debian's awscli (/usr/bin/aws) is not installed (run scripts/test-prerequisites.sh as root)",
};

/** Real SQL Server backups beside the project (`../shared/fixtures/mssql`, or SO_BACKUP_MSSQL_FIXTURES). */
export const MSSQL_FIXTURES =
  process.env.SO_BACKUP_MSSQL_FIXTURES ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'mssql');
export const mssqlFixtures: Prerequisite = {
  ok: existsSync(path.join(MSSQL_FIXTURES, 'singlerestore-full.bak')),
  missing: `the real SQL Server backups are not at ${MSSQL_FIXTURES} (set SO_BACKUP_MSSQL_FIXTURES)`,
};

/** `describe`, or — when a prerequisite is missing — skipped with the reason, or failed under CI=true. */
export function describeWith(prerequisites: Prerequisite[], name: string, body: () => void): void {
  const missing = prerequisites.filter((p) => !p.ok).map((p) => p.missing);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('has its prerequisites', () => {
        throw new Error(`CI=true and a prerequisite is missing: ${missing.join('; ')}`);
      });
    });
    return;
  }
  console.warn(`skipping "${name}": ${missing.join('; ')}`);
  describe.skip(name, body);
}
