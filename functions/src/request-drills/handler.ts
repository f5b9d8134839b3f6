import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type DrillJob, encodeMessage, PROTOCOL_VERSION } from '../../../protocol';
import { defineHandler, jobSender, jobSenderEnvironmentSchema } from '../handler';
import { connectionsOfCurrentKeys, isRestorable, postToConnection, restorableManifest } from '../../../core';
import { drillDatabase, drillsDue, failingDrills, failingDrillsAlert, issueDrill } from './restore-drills';

/**
 * Hourly: asks each online tenant whose last restore drill is a week old (DRILL_INTERVAL_DAYS)
 * to drill its newest validated run, with read-only credentials — one database per drill,
 * rotating through the run's databases (restore-drills.ts, drillDatabase) — and publishes RestoreDrillsFailing
 * (alarmed on) and an alert naming tenants whose drill failed or never reported.
 */
export const handler = defineHandler(
  {
    name: 'request-drills',
    environment: jobSenderEnvironmentSchema.extend({
      ALERTS_TOPIC_ARN: z.string().min(1),
      DRILL_INTERVAL_DAYS: z.coerce.number().positive().default(7),
      DRILL_SAMPLE_FILES: z.coerce.number().int().min(0).max(1000).default(20),
      DRILL_DATABASE: z.enum(['true', 'false']).default('true'),
    }),
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
      const run = (await runs.forTenant(tenant.tenantId, 50)).find(isRestorable);
      const manifest = run && restorableManifest(run);
      const live = connectionsOfCurrentKeys(tenant, await connections.forTenant(tenant.tenantId));
      if (!run || !manifest || live.length === 0) continue;
      // At most 69 characters (a drill id is 8–80): a long tenant id is shortened.
      const drillId = `${tenant.tenantId.slice(0, 50)}-drill-${randomBytes(6).toString('hex')}`;
      // Every database in turn: the one after the last drilled (in name order), not always the first.
      const databaseName =
        env.DRILL_DATABASE === 'true'
          ? drillDatabase(
              [...(run.kept?.databases ?? []), ...(run.kept?.carried ?? []).filter((p) => p.kind === 'database').map((p) => p.name)],
              tenant.lastDrill?.database,
            )
          : undefined;
      const asked = {
        database: env.DRILL_DATABASE === 'true' && (run.kept === undefined || databaseName !== undefined),
        ...(databaseName === undefined ? {} : { databaseName }),
        sampleFiles:
          run.kept === undefined || run.kept.archive || run.kept.carried?.some((p) => p.kind === 'archive') ? env.DRILL_SAMPLE_FILES : 0,
      };
      const job: DrillJob = {
        type: 'drill-job',
        v: PROTOCOL_VERSION,
        drillId,
        runId: run.runId,
        startedAt: run.startedAt,
        manifest,
        target,
        credentials: await credentials.mint(tenant.tenantId, drillId, 'restore'),
        ...asked,
      };
      try {
        // Issued before it is sent, with what it asks: only a drill recorded here may report a result, and it is held to what it was asked.
        const issued = issueDrill(tenant, run.runId, asked, now);
        await tenants.issueDrill(tenant.tenantId, drillId, issued.drill, issued.expired);
        // The newest live connection first; one API Gateway reports gone is forgotten and the next tried.
        let sent = false;
        for (const connection of live) {
          if ((await postToConnection({ management, connections }, connection.connectionId, encodeMessage(job))) === 'sent') {
            sent = true;
            break;
          }
        }
        if (!sent) {
          log.info({ tenantId: tenant.tenantId }, 'every recorded connection of the tenant has gone; its drill is asked for next hour');
          continue;
        }
        await tenants.recordDrillRequested(tenant.tenantId, now.toISOString());
        requested.push(tenant.tenantId);
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
