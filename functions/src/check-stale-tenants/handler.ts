import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { defineHandler, tableStores } from '../handler';
import { tableEnvironmentSchema } from '../shared';
import { findOfflineConnectors, offlineConnectorsAlert } from './offline-connectors';
import { findStaleTenants, staleTenantsAlert } from './stale-tenants';
import { findStalledSeeding, stalledSeedingAlert } from './stalled-seeding';

/**
 * Hourly: silence is a failure too. Publishes StaleTenants, ConnectorsOffline, SeedingStalled and
 * ConnectorsOnline (alarmed on, and on the dashboard) and one alert naming every enabled tenant
 * without a recent validated backup, every connector offline too long and every archive whose
 * seeding made no progress for SEEDING_STALLED_AFTER_HOURS.
 */
export const handler = defineHandler(
  {
    name: 'check-stale-tenants',
    environment: tableEnvironmentSchema.extend({
      ALERTS_TOPIC_ARN: z.string().min(1),
      STALE_AFTER_HOURS: z.coerce.number().positive().default(26),
      OFFLINE_AFTER_HOURS: z.coerce.number().positive().default(6),
      SEEDING_STALLED_AFTER_HOURS: z.coerce.number().positive().default(24),
    }),
    setup: (env) => ({
      ...tableStores(env),
      sns: new SNSClient({}),
    }),
  },
  async (
    _event,
    { env, deps: { tenants, connections, sns }, log, metrics },
  ): Promise<{ stale: string[]; offline: string[]; seedingStalled: string[] }> => {
    const now = new Date();
    const enabled = await tenants.listEnabled();
    const online = await connections.onlineTenants(now);
    const stale = findStaleTenants(enabled, now, env.STALE_AFTER_HOURS);
    const offline = findOfflineConnectors(enabled, online, now, env.OFFLINE_AFTER_HOURS);
    const stalled = findStalledSeeding(enabled, now, env.SEEDING_STALLED_AFTER_HOURS);
    metrics.add({
      StaleTenants: stale.length,
      ConnectorsOffline: offline.length,
      SeedingStalled: stalled.length,
      ConnectorsOnline: enabled.filter((t) => online.has(t.tenantId)).length,
    });
    const alerts = [
      ...(stale.length > 0 ? [staleTenantsAlert(stale, env.STALE_AFTER_HOURS)] : []),
      ...(offline.length > 0 ? [offlineConnectorsAlert(offline, env.OFFLINE_AFTER_HOURS)] : []),
      ...(stalled.length > 0 ? [stalledSeedingAlert(stalled, env.SEEDING_STALLED_AFTER_HOURS)] : []),
    ];
    if (alerts.length > 0) {
      // One message for all: the subject of the most urgent (stale backups first), every body.
      await sns.send(
        new PublishCommand({
          TopicArn: env.ALERTS_TOPIC_ARN,
          Subject: alerts[0]!.subject,
          Message: alerts.map((a) => a.message).join('\n\n'),
        }),
      );
      log.warn(
        { stale: stale.map((t) => t.tenantId), offline: offline.map((t) => t.tenantId), seedingStalled: stalled.map((t) => t.tenantId) },
        'fleet needs attention',
      );
    }
    return { stale: stale.map((t) => t.tenantId), offline: offline.map((t) => t.tenantId), seedingStalled: stalled.map((t) => t.tenantId) };
  },
);
