/** What build-connector.ts sets in a compiled MSI with msitools' msibuild, where wixl cannot. */
import { execFileSync } from 'node:child_process';

/** Adds `names` to the MSI's SecureCustomProperties (msitools' msibuild; wixl fills only its own). */
export function secureProperties(msi: string, names: readonly string[]): void {
  const rows = execFileSync('msiinfo', ['export', msi, 'Property'], { encoding: 'utf8' })
    .split(/\r?\n/)
    .map((row) => row.split('\t'));
  const current =
    rows
      .find(([name]) => name === 'SecureCustomProperties')?.[1]
      ?.trim()
      .split(';')
      .filter(Boolean) ?? [];
  const value = [...new Set([...names, ...current])].join(';');
  execFileSync('msibuild', [
    msi,
    '-q',
    current.length > 0
      ? `UPDATE \`Property\` SET \`Value\` = '${value}' WHERE \`Property\` = 'SecureCustomProperties'`
      : `INSERT INTO \`Property\` (\`Property\`, \`Value\`) VALUES ('SecureCustomProperties', '${value}')`,
  ]);
}

/**
 * Gives a file of the MSI its version in the File table (wixl has no DefaultVersion and leaves it
 * empty, which makes Windows Installer treat the exe as unversioned: compared by hash and date, not
 * replaced as a newer version). A versioned file has no MsiFileHash row.
 */
export function fileVersion(msi: string, fileKey: string, version: string): void {
  execFileSync('msibuild', [msi, '-q', `UPDATE \`File\` SET \`Version\` = '${version}' WHERE \`File\` = '${fileKey}'`]);
  execFileSync('msibuild', [msi, '-q', `DELETE FROM \`MsiFileHash\` WHERE \`File_\` = '${fileKey}'`]);
}

/**
 * Schedules the major upgrade's RemoveExistingProducts after InstallFinalize (6601): the new
 * version installs over the old one first (the running service stopped, waited for and its exe
 * replaced by the new MSI's own sequence), then the old product is unregistered. wixl has no
 * MajorUpgrade Schedule and places it after InstallValidate or after InstallFinalize depending on
 * the other actions; after InstallValidate the old product's uninstall would remove the program
 * before the new MSI's custom actions, which run the installed exe, could run it.
 */
export function upgradeOverInstalled(msi: string): void {
  execFileSync('msibuild', [msi, '-q', "UPDATE `InstallExecuteSequence` SET `Sequence` = 6601 WHERE `Action` = 'RemoveExistingProducts'"]);
}

/** Everything build-connector.ts sets after wixl: secure properties, the exe's file version, the upgrade's schedule. */
export function finishMsi(msi: string, options: { secure: readonly string[]; exeFileKey: string; exeVersion: string }): void {
  secureProperties(msi, options.secure);
  fileVersion(msi, options.exeFileKey, options.exeVersion);
  upgradeOverInstalled(msi);
}
