/**
 * The WiX source of so-connector-<version>-x64.msi, compiled by Debian's wixl (msitools). wixl has
 * no WixUtilExtension and no ServiceConfig element, so the service's delayed automatic start and
 * restart-on-failure are set by the exe itself (`so-connector service-setup`, ChangeServiceConfig2W)
 * in a deferred custom action; ServiceInstall/ServiceControl register, stop and remove it.
 *
 * Properties for a silent install (msiexec /i … /qn NAME=value): ENDPOINT, ACTIVATIONCODE,
 * SQLCONNECTIONSTRING, DATABASES (comma-separated), STAGINGFOLDER, ARCHIVE (NAME=PATH), CAFILE,
 * SERVICEACCOUNT, SERVICEPASSWORD. Nothing below the state folder (C:\ProgramData\so-backup) is
 * installed by the MSI, so upgrades and uninstalls never touch the identity, index or logs.
 * An upgrade is WiX's default major upgrade: the new version installs over the old one (same
 * component GUIDs; the service is stopped first, its process waited for — ServiceWait — and its
 * registration updated), then the old product is removed without touching what the new one still
 * uses. so-connector.exe carries a version in the File table (build-connector.ts sets it), so
 * Windows Installer's file versioning rules replace it with a newer one.
 * Refused before anything changes: ENDPOINT without ACTIVATIONCODE or the reverse (LaunchConditions),
 * and over an installed connector an enrolment the installed exe refuses (EnrolCheck, before StopServices,
 * so the running service is left alone; Windows Installer's own rollback of StopServices restarts it
 * after any later failure). What the custom
 * actions did, or why they failed, is in C:\ProgramData\so-backup\logs\install.log.
 */
import { PRODUCT } from './windows-exe';

/** Never changes: Windows Installer finds the installed version to upgrade by it. */
export const UPGRADE_CODE = '{6B1F2A57-3C8D-4E0A-9B52-D1C7A4E93F18}';
/** Component GUIDs are stable across versions (the component rules), one per installed file. */
const COMPONENTS = {
  exe: '{A3E4C5D6-7B8F-4A1B-9C2D-3E4F5A6B7C81}',
  koffi: '{B4F5D6E7-8C9A-4B2C-8D3E-4F5A6B7C8D92}',
  guide: '{C5A6E7F8-9DAB-4C3D-9E4F-5A6B7C8D9EA3}',
} as const;

export const SERVICE_NAME = 'so-connector';

/**
 * The public properties a silent install takes. All are listed in SecureCustomProperties (wixl has
 * no Secure attribute; build-connector.ts sets the table row with msibuild) so that Windows
 * Installer hands them to the elevated part of the install, where the custom actions run.
 */
export const PUBLIC_PROPERTIES = [
  'ENDPOINT',
  'ACTIVATIONCODE',
  'SQLCONNECTIONSTRING',
  'DATABASES',
  'STAGINGFOLDER',
  'ARCHIVE',
  'CAFILE',
  'SERVICEACCOUNT',
  'SERVICEPASSWORD',
] as const;

export interface MsiSourceOptions {
  readonly version: string;
  /** Files to install, as paths wixl can read. */
  readonly exe: string;
  readonly koffi: string;
  readonly guide: string;
}

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Where the installed service keeps its configuration and state (never removed by the MSI). */
export const STATE_DIR = '[CommonAppDataFolder]so-backup';
export const CONFIG_FILE = `${STATE_DIR}\\config.json`;
/** What the MSI's custom actions did, or why they failed (an MSI shows only "a program … did not finish"). */
export const INSTALL_LOG = `${STATE_DIR}\\logs\\install.log`;

/** The command line the installed service runs: the exe as built, its Node options inside it. */
export const SERVICE_ARGUMENTS = `service-host --config "${CONFIG_FILE}" --name ${SERVICE_NAME}`;

/** Where the MSI remembers its install folder, so that upgrades, repairs and uninstalls find the program where it is. */
export const REGISTRY_KEY = 'Software\\so-backup\\connector';

/**
 * Windows Installer conditions, as used in the sequence below. "The program is there" (to be
 * waited for, checked with, replaced or removed): a repair or uninstall of this product
 * (Installed) or a major upgrade of an older one (WIX_UPGRADE_DETECTED, set by FindRelatedProducts).
 */
export const PROGRAM_INSTALLED = 'Installed OR WIX_UPGRADE_DETECTED';

/**
 * LaunchConditions: refused before anything is changed, with the message in the MSI log (and on
 * screen in an interactive install). Each must be true for the install to go on.
 */
export const LAUNCH_CONDITIONS: ReadonlyArray<{ condition: string; message: string }> = [
  {
    condition: 'REMOVE="ALL" OR ENDPOINT OR NOT ACTIVATIONCODE',
    message:
      'ACTIVATIONCODE is given but ENDPOINT is not: give both (ENDPOINT=wss://… ACTIVATIONCODE=tenant:…) to enrol, or neither to install without enrolling.',
  },
  {
    condition: 'REMOVE="ALL" OR ACTIVATIONCODE OR NOT ENDPOINT',
    message:
      'ENDPOINT is given but ACTIVATIONCODE is not: give both (ENDPOINT=wss://… ACTIVATIONCODE=tenant:…) to enrol, or neither to install without enrolling.',
  },
];

export function msiSource(options: MsiSourceOptions): string {
  const enrolArguments = [
    '--endpoint "[ENDPOINT]"',
    '--code "[ACTIVATIONCODE]"',
    `--config "${CONFIG_FILE}"`,
    `--state-dir "${STATE_DIR}"`,
    '--sql "[SQLCONNECTIONSTRING]"',
    '--database "[DATABASES]"',
    '--staging "[STAGINGFOLDER]"',
    '--archive "[ARCHIVE]"',
    '--ca-file "[CAFILE]"',
    `--log-file "${INSTALL_LOG}"`,
  ].join(' ');
  const enrol = `enrol ${enrolArguments}`;
  // Over an installed connector (repair, or an upgrade given a new code), what can be checked
  // without the endpoint is checked by the installed exe before StopServices: a refused
  // enrolment (enrolled already) then leaves the running service alone.
  const enrolCheck = `enrol --check-only ${enrolArguments}`;
  // Once StopServices has asked the service to stop, wait until its process has ended, so that
  // its exe can be replaced or removed (it never stops anything itself).
  const wait = `service-wait --name ${SERVICE_NAME} --log-file "${INSTALL_LOG}"`;
  const setup = `service-setup --name ${SERVICE_NAME} --config "${CONFIG_FILE}" --account "[SERVICEACCOUNT]" --start-if-enrolled --log-file "${INSTALL_LOG}"`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="${PRODUCT.name}" Language="1033" Version="${xml(options.version)}" Manufacturer="${PRODUCT.company}" UpgradeCode="${UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"
      Description="${PRODUCT.name} ${xml(options.version)}" Comments="${xml(PRODUCT.description)}" />
    <Media Id="1" Cabinet="connector.cab" EmbedCab="yes" />
    <MajorUpgrade DowngradeErrorMessage="A newer ${PRODUCT.name} is already installed; uninstall it first to go back to this version." />

    <Property Id="SERVICEACCOUNT" Value="NT SERVICE\\${SERVICE_NAME}" />
    <Property Id="MsiHiddenProperties" Value="ACTIVATIONCODE;SQLCONNECTIONSTRING;SERVICEPASSWORD" />
    <Property Id="ARPCOMMENTS" Value="${xml(PRODUCT.description)}" />
    <Property Id="ARPNOMODIFY" Value="1" />
    <!-- The folder the installed version is in (an INSTALLFOLDER given at the first install is kept by upgrades and found by /x). -->
    <Property Id="INSTALLFOLDER">
      <RegistrySearch Id="InstalledFolder" Root="HKLM" Key="${REGISTRY_KEY}" Name="InstallFolder" Type="raw" Win64="yes" />
    </Property>
${LAUNCH_CONDITIONS.map((c) => `    <Condition Message="${xml(c.message)}">${xml(c.condition)}</Condition>`).join('\n')}

    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLFOLDER" Name="${PRODUCT.name}">
          <Component Id="ConnectorExe" Guid="${COMPONENTS.exe}" Win64="yes">
            <File Id="so_connector.exe" Name="${PRODUCT.exeName}" Source="${xml(options.exe)}" KeyPath="yes" />
            <RegistryValue Root="HKLM" Key="${REGISTRY_KEY}" Name="InstallFolder" Type="string" Value="[INSTALLFOLDER]" />
            <ServiceInstall Id="ConnectorService" Name="${SERVICE_NAME}" DisplayName="${PRODUCT.name}"
              Description="Backs up SuperOffice (SQL Server and SO_ARC) to so-backup. Dials out only."
              Type="ownProcess" Start="auto" ErrorControl="normal" Vital="yes"
              Account="[SERVICEACCOUNT]" Password="[SERVICEPASSWORD]"
              Arguments="${xml(SERVICE_ARGUMENTS)}" />
            <ServiceControl Id="ConnectorServiceControl" Name="${SERVICE_NAME}" Stop="both" Remove="uninstall" Wait="yes" />
          </Component>
          <Component Id="Koffi" Guid="${COMPONENTS.koffi}" Win64="yes">
            <File Id="koffi.node" Name="koffi.node" Source="${xml(options.koffi)}" KeyPath="yes" />
          </Component>
          <Component Id="InstallGuide" Guid="${COMPONENTS.guide}" Win64="yes">
            <File Id="INSTALL.md" Name="INSTALL.md" Source="${xml(options.guide)}" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>

    <CustomAction Id="EnrolCheck" FileKey="so_connector.exe" ExeCommand="${xml(enrolCheck)}" Execute="deferred" Impersonate="no" Return="check" />
    <CustomAction Id="Enrol" FileKey="so_connector.exe" ExeCommand="${xml(enrol)}" Execute="deferred" Impersonate="no" Return="check" />
    <CustomAction Id="ServiceSetup" FileKey="so_connector.exe" ExeCommand="${xml(setup)}" Execute="deferred" Impersonate="no" Return="check" />
    <CustomAction Id="ServiceWait" FileKey="so_connector.exe" ExeCommand="${xml(wait)}" Execute="deferred" Impersonate="no" Return="check" />
    <!-- Explicit numbers (wixl places Before/After unreliably): StopServices 1900, DeleteServices 2000,
         RemoveFiles 3500, InstallFiles 4000, InstallServices 5800, StartServices 5900.
         EnrolCheck and ServiceWait run the installed exe (the old one in an upgrade), so only when it is there.
         InstallExecute and InstallExecuteAgain run the deferred actions scheduled so far right there: Wine's
         msiexec runs standard actions (StopServices, RemoveFiles, InstallFiles) at once but deferred custom
         actions only when the script is executed, by default at InstallFinalize, after the files were
         replaced; Windows executes everything in sequence order either way. So EnrolCheck runs before
         StopServices, and ServiceWait after it and before the files are removed or replaced, on both. -->
    <InstallExecuteSequence>
      <Custom Action="EnrolCheck" Sequence="1880">ACTIVATIONCODE AND NOT REMOVE AND (${PROGRAM_INSTALLED})</Custom>
      <InstallExecute Sequence="1885" />
      <Custom Action="ServiceWait" Sequence="1950">${PROGRAM_INSTALLED}</Custom>
      <InstallExecuteAgain Sequence="1960" />
      <Custom Action="Enrol" Sequence="5810">ACTIVATIONCODE AND NOT REMOVE</Custom>
      <Custom Action="ServiceSetup" Sequence="5820">NOT REMOVE</Custom>
    </InstallExecuteSequence>

    <Feature Id="Connector" Title="${PRODUCT.name}" Level="1">
      <ComponentRef Id="ConnectorExe" />
      <ComponentRef Id="Koffi" />
      <ComponentRef Id="InstallGuide" />
    </Feature>
  </Product>
</Wix>
`;
}
