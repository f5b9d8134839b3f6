/**
 * The service definitions the installer writes, as pure functions of the install options, so
 * they are tested without a service manager (and Windows' under Wine: scripts/windows-e2e.sh).
 */
export interface ServiceOptions {
  /** @default 'so-connector' */
  readonly name: string;
  /** Absolute path of the Node.js executable (Linux), or of so-connector.exe (Windows). */
  readonly nodePath: string;
  /** Absolute path of the bundled so-connector.js (Linux; unused on Windows, where the exe holds it). */
  readonly scriptPath: string;
  readonly configFile: string;
  /** Folders the service writes: state and staging. */
  readonly writablePaths: readonly string[];
  /** Windows: "DOMAIN\\user" or "NT SERVICE\\so-connector" (virtual account); Linux: a user name. @default virtual account / 'so-backup' */
  readonly account?: string;
  readonly logDir: string;
}

/**
 * Node.js options the service runs with: a smaller young generation (8 MB semi-spaces, not 16)
 * and a heap that grows by 50 % of what survives a full collection (not up to 4×). Measured on
 * a first run of 100,000 files: live data stays near 60 MB while V8's defaults let garbage push
 * the peak to 233 MiB; with these it is 183 MiB, at no measurable cost in speed (npm run bench -- archive).
 * Neither is a hard limit: a larger archive gets the memory it needs.
 */
export const NODE_OPTIONS = ['--max-semi-space-size=8', '--heap-growing-percent=50'] as const;

/**
 * Node.js options built into so-connector.exe (the SEA configuration's execArgv; a single
 * executable takes no Node options as program arguments). Also --use-system-ca: the exe trusts the
 * certificate authorities of the Windows certificate store, where a company's own CAs (e.g. a
 * TLS-inspecting proxy's) are deployed, besides those Node.js ships.
 */
export const EXE_NODE_OPTIONS = [...NODE_OPTIONS, '--use-system-ca'] as const;

/** The Windows service's command line: the exe as built, its Node options inside it. */
export function windowsServiceCommand(options: { exePath: string; configFile: string; name: string }): string {
  return `"${options.exePath}" service-host --config "${options.configFile}" --name ${options.name}`;
}

/** systemd unit: restarts forever, runs unprivileged, may write only its own folders. */
export function systemdUnit(options: ServiceOptions): string {
  const quote = (p: string) => (/\s/.test(p) ? `"${p}"` : p);
  return `[Unit]
Description=so-backup connector (backs up SuperOffice to so-backup; dials out only)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${options.account ?? 'so-backup'}
ExecStart=${quote(options.nodePath)} ${NODE_OPTIONS.join(' ')} ${quote(options.scriptPath)} run --config ${quote(options.configFile)}
Restart=always
RestartSec=10
TimeoutStopSec=60
KillSignal=SIGTERM
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ReadWritePaths=${[...options.writablePaths, options.logDir].map(quote).join(' ')}

[Install]
WantedBy=multi-user.target
`;
}
