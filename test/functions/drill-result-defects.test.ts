import { handleConnectorMessage, type MessageContext } from '../../functions/src/message/handle-connector-message';
import type { CloudMessage } from '../../protocol';

/*
 * Defect found by a tester of issue 16: a drill the cloud issued is recorded as PASSED when its
 * result checked nothing: no database restored (absent, or "skipped" because the staging folder
 * is too small) and no archive file verified. The cloud asked for a database restore with DBCC
 * CHECKDB and a sample of files; a result that did neither must not silence RestoreDrillsFailing.
 */
function context() {
  const recorded: Array<{ ok: boolean; detail: string }> = [];
  const replies: CloudMessage[] = [];
  const issued = new Set(['acme-drill-0001', 'acme-drill-0002', 'acme-drill-0003']);
  const ctx = {
    tenantId: 'acme',
    connectionId: 'c1',
    runs: {} as MessageContext['runs'],
    tenants: {
      get: async () => undefined,
      updateKeys: async () => true,
      recordDrill: async (_t: string, drill: { drillId: string; ok: boolean; detail: string }) =>
        issued.delete(drill.drillId) && (recorded.push({ ok: drill.ok, detail: drill.detail }), true),
    },
    mintCredentials: async () => ({ accessKeyId: 'A', secretAccessKey: 'S', expiration: '2026-11-25T05:00:00.000Z' }),
    target: { bucket: 'backups', region: 'eu-north-1', forcePathStyle: false },
    tasks: { heartbeat: async () => undefined, succeed: async () => undefined, fail: async () => undefined },
    reply: async (m: CloudMessage) => void replies.push(m),
  } as unknown as MessageContext;
  return { ctx, recorded };
}

const drill = (drillId: string, parts: Record<string, unknown>) =>
  JSON.stringify({
    type: 'drill-result',
    v: 1,
    drillId,
    runId: 'acme-2026-11-25-daily',
    ok: true,
    startedAt: '2026-11-25T03:00:00.000Z',
    finishedAt: '2026-11-25T03:05:00.000Z',
    ...parts,
  });

describe('drill results that checked nothing', () => {
  test.each([
    ['no database and no archive part', {}],
    ['no database and 0 of 0 sampled files', { archive: { sampled: 0, verified: 0 } }],
    [
      'the database skipped for lack of space, 0 of 0 files',
      {
        database: { status: 'skipped', detail: 'not enough space in D:\\so-backup\\staging: 1 bytes free, about 2 needed', seconds: 0 },
        archive: { sampled: 0, verified: 0 },
      },
    ],
  ])('GIVEN an issued drill answered ok with %s WHEN reported THEN it is not recorded as a passed drill', async (_, parts) => {
    const { ctx, recorded } = context();
    await handleConnectorMessage(drill('acme-drill-0001', parts), ctx);
    expect(recorded.filter((r) => r.ok)).toEqual([]);
  });
});
