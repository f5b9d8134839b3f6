import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { encodeMessage } from '../../../protocol';
import { defineHandler, jobSender, jobSenderEnvironmentSchema } from '../handler';
import { connectionsOfCurrentKeys, postToConnection } from '../../../core';
import { askForDrill, drillEnvironmentSchema } from './ask-for-drill';
import { drillsDue, failingDrills, failingDrillsAlert } from './restore-drills';

/**
 * Hourly: asks each online tenant whose last restore drill is a week old (DRILL_INTERVAL_DAYS)
 * to drill its newest validated run, with read-only credentials — one database per drill,
 * rotating through the run's databases (ask-for-drill.ts) — and publishes RestoreDrillsFailing
 * (alarmed on) and an alert naming tenants whose drill failed or never reported.
 */
export const handler = defineHandler(
  {
    name: 'request-drills',
    environment: jobSenderEnvironmentSchema.extend({ ALERTS_TOPIC_ARN: z.string().min(1) }).extend(drillEnvironmentSchema.shape),
    setup: (env) => ({ ...jobSender(env), sns: new SNSClient({}) }),
  },
  async (
    _event,
    { env, deps: { tenants, runs, connections, management, credentials, target, sns }, log, metrics },
  ): Promise<{ requested: string[]; failing: string[] }> => {
    const now = new Date();
    const enabled = await tenants.listEnabled();
    const online = await connections.onlineTenants(now);
    const requested: string[] = [];
    for (const tenant of drillsDue(enabled, online, now, env.DRILL_INTERVAL_DAYS)) {
      const live = connectionsOfCurrentKeys(tenant, await connections.forTenant(tenant.tenantId));
      if (live.length === 0) continue;
      try {
        const outcome = await askForDrill(
          tenant,
          {
            tenants,
            runs,
            target,
            mintReadCredentials: (tenantId, drillId) => credentials.mint(tenantId, drillId, 'restore'),
            // The newest live connection first; one API Gateway reports gone is forgotten and the next tried.
            send: async (job) => {
              for (const connection of live)
                if ((await postToConnection({ management, connections }, connection.connectionId, encodeMessage(job))) === 'sent')
                  return true;
              return false;
            },
          },
          env,
          now,
        );
        if (outcome === 'gone')
          log.info({ tenantId: tenant.tenantId }, 'every recorded connection of the tenant has gone; its drill is asked for next hour');
        if (outcome === 'requested') requested.push(tenant.tenantId);
      } catch (error) {
        log.warn({ tenantId: tenant.tenantId, err: (error as Error).message }, 'could not ask for a restore drill; next hour again');
      }
    }
    const failing = failingDrills(enabled, now);
    metrics.add({ RestoreDrillsFailing: failing.length, RestoreDrillsRequested: requested.length });
    if (failing.length > 0) {
      const alert = failingDrillsAlert(failing);
      await sns.send(new PublishCommand({ TopicArn: env.ALERTS_TOPIC_ARN, Subject: alert.subject, Message: alert.message }));
    }
    log.info({ requested, failing: failing.map((f) => f.tenantId) }, 'restore drills');
    return { requested, failing: failing.map((f) => f.tenantId) };
  },
);
