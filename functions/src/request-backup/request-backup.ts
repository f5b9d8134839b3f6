import { type BackupJob, type UploadTarget, PROTOCOL_VERSION } from '../../../protocol';
import {
  type ConnectionStore,
  connectionsOfCurrentKeys,
  RunError,
  type RunStore,
  type TenantStore,
  type UploadCredentialVendor,
} from '../../../core';
import { logger, type RunRef } from '../shared';

export interface RequestBackupDeps {
  runs: Pick<RunStore, 'update'>;
  tenants: Pick<TenantStore, 'get'>;
  connections: Pick<ConnectionStore, 'forTenant' | 'remove'>;
  credentials: UploadCredentialVendor;
  target: UploadTarget;
  /** Sends a job to a connection; resolves false when the connection is gone (and forgotten: core's postToConnection). */
  send(connectionId: string, job: BackupJob): Promise<boolean>;
}

/**
 * Stores the task token with the run and hands the job to the tenant's newest live connection
 * authenticated with one of its current keys (never a session of a replaced or revoked key).
 * No such connection: fails at once with ConnectorOffline (the state machine decides on retries).
 */
export async function requestBackup(deps: RequestBackupDeps, run: RunRef, taskToken: string): Promise<{ connectionId: string }> {
  await deps.runs.update(run.runId, { taskToken });
  const tenant = await deps.tenants.get(run.tenantId);
  const connections = tenant ? connectionsOfCurrentKeys(tenant, await deps.connections.forTenant(run.tenantId)) : [];
  if (connections.length === 0) {
    throw new RunError(
      'ConnectorOffline',
      `no connector of tenant "${run.tenantId}" is connected; check that the so-connector service runs and can reach the endpoint`,
    );
  }
  const job: BackupJob = {
    type: 'backup-job',
    v: PROTOCOL_VERSION,
    runId: run.runId,
    tenantId: run.tenantId,
    target: deps.target,
    credentials: await deps.credentials.mint(run.tenantId, run.runId),
    requestedAt: new Date().toISOString(),
    bandwidth: tenant?.bandwidth ?? null,
    // From Prepare: counted from the run's start, so a run that waited for its connector ends its window when it would have.
    ...(run.windowEndsAt ? { windowEndsAt: run.windowEndsAt } : {}),
  };
  for (const connection of connections) {
    if (await deps.send(connection.connectionId, job)) {
      await deps.runs.update(run.runId, { connectionId: connection.connectionId });
      logger.info({ runId: run.runId, connectionId: connection.connectionId }, 'backup job sent');
      return { connectionId: connection.connectionId };
    }
  }
  throw new RunError('ConnectorOffline', `every recorded connection of tenant "${run.tenantId}" has gone; the connector is offline`);
}
