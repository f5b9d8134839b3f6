import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { LOCAL_OUTPUTS_FILE, type LocalOutputs, localOutputsSchema } from '../../core';
import { LOCAL_BUCKET, LOCAL_REGION, type LocalDeployment } from './local-deployment';
import type { CfnTemplate } from './synthesize-template';

/**
 * What local mode tells the operator CLI (core/stack-outputs.ts): the stack's outputs as local
 * mode deployed them — names from its template, the WebSocket endpoint on loopback, the settings
 * the template's own Outputs carry (the schedule's time zone, the run timeout, the connectors' presence) — and its endpoints.
 */
export function localOutputs(
  template: CfnTemplate,
  deployment: LocalDeployment,
  endpoints: Omit<LocalOutputs, 'outputs' | 'region'> & { connectorEndpoint: string },
): LocalOutputs {
  const declared = (template as CfnTemplate & { Outputs?: Record<string, { Value?: unknown }> }).Outputs ?? {};
  const literal = (name: string) => {
    const value = declared[name]?.Value;
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`the template's output ${name} is not a literal value`);
    return String(value);
  };
  const table = (suffix: string) => deployment.tables.find((t) => t.name.includes(suffix))!.name;
  const { connectorEndpoint, ...rest } = endpoints;
  return localOutputsSchema.parse({
    outputs: {
      ConnectorEndpoint: connectorEndpoint,
      BackupBucketName: LOCAL_BUCKET,
      BackupRunStateMachineArn: deployment.stateMachines.find((m) => m.name === 'BackupRun')!.arn,
      TenantsTableName: table('Tenants'),
      RunsTableName: table('Runs'),
      ConnectionsTableName: table('Connections'),
      ScheduleTimeZone: literal('ScheduleTimeZone'),
      RunTimeoutSeconds: literal('RunTimeoutSeconds'),
      RunWindowSeconds: literal('RunWindowSeconds'),
      PresenceSettings: literal('PresenceSettings'),
    },
    region: LOCAL_REGION,
    ...rest,
  });
}

/** Writes DIR/outputs.json (0600: it holds the operator's key); returns its path. */
export function writeLocalOutputs(dataDir: string, outputs: LocalOutputs): string {
  const file = path.join(dataDir, LOCAL_OUTPUTS_FILE);
  writeFileSync(file, JSON.stringify(outputs, null, 2), { mode: 0o600 });
  return file;
}
