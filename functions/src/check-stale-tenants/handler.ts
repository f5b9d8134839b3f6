import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { awsClients, logger, readEnvironment, tableEnvironmentSchema, TenantStore } from '../shared';
import { findStaleTenants, staleTenantsAlert } from './stale-tenants';

const env = readEnvironment(tableEnvironmentSchema.extend({
  ALERTS_TOPIC_ARN: z.string().min(1),
  STALE_AFTER_HOURS: z.coerce.number().positive().default(26),
}));
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const sns = new SNSClient({});

/**
 * Hourly: silence is a failure too. Publishes the StaleTenants metric (CloudWatch embedded
 * metric format, alarmed on) and an alert naming every enabled tenant without a recent validated backup.
 */
export async function handler(): Promise<{ stale: string[] }> {
  const stale = findStaleTenants(await tenants.listEnabled(), new Date(), env.STALE_AFTER_HOURS);
  // One EMF line: CloudWatch turns it into the SoBackup/StaleTenants metric without an API call.
  process.stdout.write(JSON.stringify({
    _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: 'SoBackup', Dimensions: [[]], Metrics: [{ Name: 'StaleTenants', Unit: 'Count' }] }] },
    StaleTenants: stale.length,
  }) + '\n');
  if (stale.length > 0) {
    const alert = staleTenantsAlert(stale, env.STALE_AFTER_HOURS);
    await sns.send(new PublishCommand({ TopicArn: env.ALERTS_TOPIC_ARN, Subject: alert.subject, Message: alert.message }));
    logger.warn({ stale: stale.map((t) => t.tenantId) }, 'stale tenants');
  }
  return { stale: stale.map((t) => t.tenantId) };
}
