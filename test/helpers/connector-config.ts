import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ConnectorConfig } from '../../connector/src/config';

/** A valid connector configuration rooted in `dir`, for tests; overrides replace whole sections. */
export function connectorConfigFor(dir: string, overrides: Partial<ConnectorConfig> = {}): ConnectorConfig {
  return {
    endpoint: 'ws://127.0.0.1:1',
    tenantId: 'acme',
    identityFile: path.join(dir, 'identity.json'),
    stateDir: path.join(dir, 'state'),
    logLevel: 'info',
    heartbeatSeconds: 300,
    reconnectAfterMinutes: 110,
    keyRotationDays: 30,
    startupHoldMinutes: 30,
    ...overrides,
  };
}

/** The SQL section for a TDS stand-in on `port`. */
export function standInSql(
  port: number,
  login: { user: string; password: string },
  stagingFolder: string,
): NonNullable<ConnectorConfig['sql']> {
  return {
    connectionString: `Server=127.0.0.1,${port};User Id=${login.user};Password=${login.password};Encrypt=false`,
    databases: ['SuperOffice'],
    stagingFolder,
    compression: true,
  };
}

/**
 * Writes dir/config.json as an operator writes it: the fewest fields a valid configuration has
 * (endpoint, tenant, identity file, dir as state folder and as the SO_ARC root), then `more`
 * (top-level fields, added or replacing). Returns the file's path.
 */
export function writeConnectorConfigFile(dir: string, more: Record<string, unknown> = {}): string {
  const file = path.join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      endpoint: 'wss://example.com/prod',
      tenantId: 'acme',
      identityFile: path.join(dir, 'identity.json'),
      stateDir: dir,
      archive: { roots: [{ name: 'SO_ARC', path: dir }] },
      ...more,
    }),
  );
  return file;
}
