import { handleConnectorMessage, type MessageContext } from '../../functions/src/message/handle-connector-message';
import { presenceEnvironmentSchema, presenceSettings } from '../../functions/src/message/presence-environment';
import { logger } from '../../functions/src/shared';
import type { RunRecord } from '../../core';
import type { CloudMessage } from '../../protocol';
import { presenceSettings as testPresenceSettings } from '../helpers/presence-settings';

function context(run: Partial<RunRecord> | undefined) {
  const record =
    run && ({ runId: 'acme-2026-11-25-daily', tenantId: 'acme', status: 'RUNNING', taskToken: 'token-1', ...run } as RunRecord);
  const calls: string[] = [];
  const replies: CloudMessage[] = [];
  const issued = new Set([
    'acme-drill-0001 acme-2026-11-25-daily',
    'acme-drill-0002 acme-2026-11-25-daily',
    'acme-drill-0003 acme-2026-11-25-daily',
  ]);
  const ctx: MessageContext = {
    tenantId: 'acme',
    connectionId: 'c1',
    runs: {
      get: async () => record,
      update: async (_id, fields) => void calls.push(`update ${Object.keys(fields).join(',')}`),
      recordResultOnce: async (_id, result) => {
        if (record?.result) return false;
        if (record) record.result = result;
        return true;
      },
      forTenant: async () => (record ? [record] : []),
      addRestore: async (id, restore) => void calls.push(`restore ${id} by ${restore.by}`),
    },
    tenants: {
      get: async () => undefined,
      updateKeys: async () => true,
      // Like TenantStore.recordDrill: only an issued drill, for its run, once.
      recordDrill: async (t, drill) =>
        issued.delete(`${drill.drillId} ${drill.runId}`) && (calls.push(`drill ${t} ${drill.ok} ${drill.detail}`), true),
      issueDrill: async (t, drillId, drill) => void calls.push(`issue ${t} ${drill.runId} ${drillId.startsWith(`${t}-drill-`)}`),
      recordDrillRequested: async (t) => void calls.push(`drill requested ${t}`),
    },
    mintCredentials: async (_t, _r, access) => ({
      accessKeyId: access === 'restore' ? 'READ-ONLY' : 'NEW',
      secretAccessKey: 'S',
      expiration: '2026-11-25T05:00:00.000Z',
    }),
    target: { bucket: 'backups', region: 'eu-north-1', forcePathStyle: false },
    tasks: {
      heartbeat: async (t) => void calls.push(`heartbeat ${t}`),
      succeed: async (t, o) => void calls.push(`succeed ${t} ${JSON.stringify(o)}`),
      fail: async (t, e, c) => void calls.push(`fail ${t} ${e} ${c}`),
    },
    reply: async (m) => void replies.push(m),
  };
  return { ctx, calls, replies };
}

/** A run that validated: restorable. */
const VALIDATED_RUN = {
  status: 'SUCCEEDED' as const,
  startedAt: '2026-11-25T01:00:00.000Z',
  validation: { ok: true, checkedAt: '', checks: 9, problems: [] },
  manifest: { key: 'manifests/daily/acme/manifest.json', versionId: 'm7' },
};

const result = JSON.stringify({
  type: 'result',
  v: 1,
  runId: 'acme-2026-11-25-daily',
  outcome: 'succeeded',
  manifest: { key: 'manifests/daily/acme/x.json', versionId: 'v1' },
});

describe('handleConnectorMessage', () => {
  test('GIVEN progress WHEN handled THEN the run records it and the task gets a heartbeat', async () => {
    const { ctx, calls } = context({});
    const outcome = await handleConnectorMessage(
      '{"type":"progress","v":1,"runId":"acme-2026-11-25-daily","phase":"database","percent":50}',
      ctx,
    );
    expect(outcome).toBe('progress');
    expect(calls).toEqual(['update progress', 'heartbeat token-1']);
  });

  test("GIVEN a connector asking for its settings after connecting THEN it gets the tenant's bandwidth, or null when none is set", async () => {
    const { ctx, replies } = context(undefined);
    const office = { default: '50 Mbit/s', schedule: [{ days: 'Mon-Fri', from: '07:00', to: '17:00', limit: '10 Mbit/s' }] };
    ctx.tenants.get = async () => ({
      tenantId: 'acme',
      displayName: 'Acme',
      enabled: true,
      keys: [],
      createdAt: '2026-11-01T00:00:00Z',
      bandwidth: office,
    });
    expect(await handleConnectorMessage('{"type":"settings-request","v":1}', ctx)).toBe('settings');
    ctx.tenants.get = async () => ({ tenantId: 'acme', displayName: 'Acme', enabled: true, keys: [], createdAt: '2026-11-01T00:00:00Z' });
    await handleConnectorMessage('{"type":"settings-request","v":1}', ctx);
    expect(replies).toEqual([
      { type: 'settings', v: 1, bandwidth: office },
      { type: 'settings', v: 1, bandwidth: null },
    ]);
  });

  test('GIVEN the same result delivered twice WHEN handled THEN the task completes exactly once and both are acknowledged', async () => {
    const { ctx, calls, replies } = context({});
    expect(await handleConnectorMessage(result, ctx)).toBe('result');
    expect(await handleConnectorMessage(result, ctx)).toBe('duplicate');
    expect(calls.filter((c) => c.startsWith('succeed'))).toHaveLength(1);
    expect(replies).toEqual([
      { type: 'ack', v: 1, runId: 'acme-2026-11-25-daily' },
      { type: 'ack', v: 1, runId: 'acme-2026-11-25-daily' },
    ]);
  });

  test('GIVEN a credentials request for a running run WHEN handled THEN fresh credentials are sent back', async () => {
    const { ctx, replies } = context({});
    expect(await handleConnectorMessage('{"type":"credentials-request","v":1,"runId":"acme-2026-11-25-daily"}', ctx)).toBe('credentials');
    expect(replies).toEqual([
      {
        type: 'credentials',
        v: 1,
        runId: 'acme-2026-11-25-daily',
        credentials: { accessKeyId: 'NEW', secretAccessKey: 'S', expiration: '2026-11-25T05:00:00.000Z' },
      },
    ]);
  });

  test('GIVEN a credentials request for a run that ended WHEN handled THEN it is refused', async () => {
    const { ctx, replies } = context({ status: 'SUCCEEDED' });
    expect(await handleConnectorMessage('{"type":"credentials-request","v":1,"runId":"acme-2026-11-25-daily"}', ctx)).toBe('rejected');
    expect(replies[0]).toMatchObject({
      type: 'error',
      inReplyTo: 'credentials-request',
      runId: 'acme-2026-11-25-daily',
      error: { code: 'RUN_NOT_RUNNING' },
    });
  });

  test('GIVEN a heartbeat WHEN handled THEN nothing happens but the connection stays alive', async () => {
    const { ctx, calls, replies } = context({});
    expect(await handleConnectorMessage('{"type":"heartbeat","v":1}', ctx)).toBe('ignored');
    expect([calls, replies]).toEqual([[], []]);
  });

  test("GIVEN a failed result WHEN handled THEN the task fails with the connector's code and message", async () => {
    const { ctx, calls } = context({});
    await handleConnectorMessage(
      JSON.stringify({
        type: 'result',
        v: 1,
        runId: 'acme-2026-11-25-daily',
        outcome: 'failed',
        error: { code: 'SQL_BACKUP_FOLDER_DENIED', message: 'cannot write' },
      }),
      ctx,
    );
    expect(calls).toEqual(['fail token-1 BackupFailed SQL_BACKUP_FOLDER_DENIED: cannot write']);
  });

  test("GIVEN a message about another tenant's run WHEN handled THEN it is refused without revealing the run", async () => {
    const { ctx, calls, replies } = context({ tenantId: 'beta' });
    expect(await handleConnectorMessage(result, ctx)).toBe('rejected');
    expect(calls).toEqual([]);
    expect(replies[0]).toMatchObject({ type: 'error', error: { code: 'RUN_UNKNOWN' } });
  });

  test.each([
    ['malformed JSON', '{"type":"result",', 'MESSAGE_NOT_JSON'],
    ['an unknown type', '{"type":"shutdown","v":1}', 'MESSAGE_INVALID'],
    [
      'an oversized frame',
      JSON.stringify({ type: 'progress', v: 1, runId: 'r', phase: 'database', detail: 'x'.repeat(200_000) }),
      'MESSAGE_TOO_LARGE',
    ],
  ])('GIVEN %s WHEN handled THEN the connector gets an error and nothing crashes', async (_, raw, code) => {
    const { ctx, replies } = context({});
    expect(await handleConnectorMessage(raw, ctx)).toBe('rejected');
    expect(replies).toEqual([expect.objectContaining({ type: 'error', error: expect.objectContaining({ code }) })]);
  });

  test('GIVEN a message of a known type that breaks its schema WHEN handled THEN the MESSAGE_INVALID error answers it by type (inReplyTo); an unknown type is not echoed', async () => {
    const { ctx, replies } = context({});
    await handleConnectorMessage('{"type":"drill-result","v":1,"drillId":"x"}', ctx);
    await handleConnectorMessage('{"type":"shutdown","v":1}', ctx);
    expect(replies[0]).toMatchObject({
      type: 'error',
      inReplyTo: 'drill-result',
      error: { code: 'MESSAGE_INVALID', message: expect.stringMatching(/^invalid "drill-result" message: /) },
    });
    expect(replies[1]).not.toHaveProperty('inReplyTo');
  });

  test('GIVEN a result for a run that already ended WHEN handled THEN it is acknowledged as a duplicate', async () => {
    const { ctx, calls, replies } = context({ status: 'FAILED' });
    expect(await handleConnectorMessage(result, ctx)).toBe('duplicate');
    expect(calls).toEqual([]);
    expect(replies).toEqual([{ type: 'ack', v: 1, runId: 'acme-2026-11-25-daily' }]);
  });

  describe('restore requests', () => {
    const validated = VALIDATED_RUN;
    const request = (run: string, at?: string) =>
      JSON.stringify({
        type: 'restore-request',
        v: 1,
        requestId: 'req-0001',
        run,
        requestedBy: 'it-admin@SO-APP01',
        ...(at ? { at } : {}),
      });

    test('GIVEN a validated run WHEN its restore is requested THEN the manifest and read-only credentials are granted and the restore is recorded', async () => {
      const { ctx, calls, replies } = context(validated);
      expect(await handleConnectorMessage(request('latest'), ctx)).toBe('restore-granted');
      expect(replies).toEqual([
        expect.objectContaining({
          type: 'restore-grant',
          requestId: 'req-0001',
          runId: 'acme-2026-11-25-daily',
          manifest: validated.manifest,
          target: { bucket: 'backups', region: 'eu-north-1', forcePathStyle: false },
          credentials: expect.objectContaining({ accessKeyId: 'READ-ONLY' }),
        }),
      ]);
      expect(calls).toEqual(['restore acme-2026-11-25-daily by it-admin@SO-APP01']);
    });

    test('GIVEN runs that failed validation, or none before the date WHEN a restore is requested THEN it is refused with the reason and nothing is granted', async () => {
      const failed = context({
        ...validated,
        status: 'FAILED',
        validation: { ok: false, checkedAt: '', checks: 9, problems: ['size differs'] },
      });
      expect(await handleConnectorMessage(request('acme-2026-11-25-daily'), failed.ctx)).toBe('rejected');
      expect(failed.replies).toEqual([
        expect.objectContaining({
          type: 'error',
          error: expect.objectContaining({
            code: 'RUN_NOT_RESTORABLE',
            message: expect.stringContaining('only validated backups can be restored'),
          }),
        }),
      ]);
      const early = context(validated);
      expect(await handleConnectorMessage(request('latest', '2026-11-24T00:00:00.000Z'), early.ctx)).toBe('rejected');
      expect(early.replies).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: 'NO_VALIDATED_RUN' }) })]);
      const foreign = context({ ...validated, tenantId: 'beta' });
      expect(await handleConnectorMessage(request('acme-2026-11-25-daily'), foreign.ctx)).toBe('rejected');
      expect(foreign.replies).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: 'RUN_UNKNOWN' }) })]);
      expect([...failed.calls, ...early.calls, ...foreign.calls]).toEqual([]);
    });

    test('GIVEN a newer run that kept only the database (its archive failed) and an older complete one WHEN a restore asks for "latest" THEN it gets the newest run that kept what it wants; a run that did not keep it is refused with why', async () => {
      const partial: RunRecord = {
        runId: 'acme-2026-11-26-daily',
        tenantId: 'acme',
        status: 'FAILED',
        trigger: 'schedule',
        requestedBy: 's',
        executionArn: 'a',
        startedAt: '2026-11-26T01:00:00.000Z',
        manifest: { key: 'incoming/acme/acme-2026-11-26-daily/manifest.json', versionId: 's1' },
        validatedManifest: { key: 'manifests/daily/acme/manifest.json', versionId: 'm8' },
        kept: { databases: ['SuperOffice'], archive: false },
        failures: [
          {
            kind: 'archive',
            name: 'SO_ARC',
            error: { code: 'ARCHIVE_UNREADABLE', message: 'the share \\\\fs01\\SO_ARC is not reachable' },
          },
        ],
      };
      const complete = {
        runId: 'acme-2026-11-25-daily',
        tenantId: 'acme',
        trigger: 'schedule',
        requestedBy: 's',
        executionArn: 'a',
        ...validated,
      } as RunRecord;
      const grantOf = async (raw: string, get: RunRecord = partial) => {
        const { ctx, replies } = context(get);
        ctx.runs.forTenant = async () => [partial, complete];
        await handleConnectorMessage(raw, ctx);
        return replies[0] as { type: string; runId?: string; manifest?: unknown; error?: { code: string; message: string } };
      };
      const wanting = (run: string, wants: Record<string, unknown>) => JSON.stringify({ ...(JSON.parse(request(run)) as object), wants });
      expect(await grantOf(wanting('latest', { archive: true }))).toMatchObject({
        type: 'restore-grant',
        runId: 'acme-2026-11-25-daily',
        manifest: validated.manifest,
      });
      expect(await grantOf(wanting('latest', { database: 'SuperOffice' }))).toMatchObject({
        type: 'restore-grant',
        runId: 'acme-2026-11-26-daily',
        manifest: partial.validatedManifest,
      });
      expect(await grantOf(request('latest'))).toMatchObject({ runId: 'acme-2026-11-26-daily' }); // an older connector says nothing: the newest with validated parts
      expect(await grantOf(wanting('acme-2026-11-26-daily', { archive: true }))).toMatchObject({
        type: 'error',
        error: {
          code: 'RUN_LACKS_PART',
          message: expect.stringMatching(
            /did not keep a validated backup of the archive \(archive SO_ARC: the share .* is not reachable\)/,
          ),
        },
      });
      // A run whose daily manifest carries the archive forward (its latest validated one, from an earlier run) holds it.
      const carrying = {
        ...partial,
        kept: { ...partial.kept!, carried: [{ kind: 'archive' as const, name: 'archive', runId: 'acme-2026-11-25-daily' }] },
      };
      expect(await grantOf(wanting('acme-2026-11-26-daily', { archive: true }), carrying)).toMatchObject({
        type: 'restore-grant',
        runId: 'acme-2026-11-26-daily',
        manifest: partial.validatedManifest,
      });
    });
  });

  const drill = (drillId: string, ok: boolean, more: Record<string, unknown> = {}) =>
    JSON.stringify({
      type: 'drill-result',
      v: 1,
      drillId,
      runId: 'acme-2026-11-25-daily',
      ok,
      startedAt: '2026-11-25T03:00:00.000Z',
      finishedAt: '2026-11-25T03:05:00.000Z',
      database: ok
        ? { status: 'checked', detail: 'SuperOffice restored as so_backup_drill_1 and DBCC CHECKDB found no errors', seconds: 280 }
        : { status: 'failed', detail: 'SQL Server error 8939', seconds: 100 },
      archive: { sampled: 20, verified: 20 },
      ...more,
    });

  test('GIVEN results of drills the cloud asked for WHEN reported THEN each is kept with the tenant, with what was checked', async () => {
    const { ctx, calls } = context(undefined);
    expect(await handleConnectorMessage(drill('acme-drill-0001', true), ctx)).toBe('drill-recorded');
    expect(await handleConnectorMessage(drill('acme-drill-0002', false), ctx)).toBe('drill-recorded');
    expect(calls).toEqual([
      'drill acme true database checked: SuperOffice restored as so_backup_drill_1 and DBCC CHECKDB found no errors; archive 20 of 20 sampled files verified',
      'drill acme false NOT A PASS: the restore of database failed (reported: database failed: SQL Server error 8939; archive 20 of 20 sampled files verified)',
    ]);
  });

  test("GIVEN an unsolicited, a replayed or another run's drill result WHEN reported THEN each is refused with DRILL_UNKNOWN and nothing is recorded", async () => {
    const { ctx, calls, replies } = context(undefined);
    expect(await handleConnectorMessage(drill('acme-drill-0001', true), ctx)).toBe('drill-recorded');
    calls.length = 0;
    const unsolicited = drill('acme-drill-made-up', true, { database: undefined, archive: { sampled: 0, verified: 0 } });
    const replayed = drill('acme-drill-0001', true);
    const otherRun = drill('acme-drill-0002', true, { runId: 'other-2026-11-25-daily' });
    for (const raw of [unsolicited, replayed, otherRun]) expect(await handleConnectorMessage(raw, ctx)).toBe('rejected');
    expect(calls).toEqual([]);
    expect(replies).toEqual(
      Array(3).fill(
        expect.objectContaining({ type: 'error', inReplyTo: 'drill-result', error: expect.objectContaining({ code: 'DRILL_UNKNOWN' }) }),
      ),
    );
  });

  test('GIVEN a result that says ok while a sampled file did not verify WHEN reported THEN it is recorded as failed', async () => {
    const { ctx, calls } = context(undefined);
    expect(await handleConnectorMessage(drill('acme-drill-0003', true, { archive: { sampled: 20, verified: 19 } }), ctx)).toBe(
      'drill-recorded',
    );
    expect(calls).toEqual([
      expect.stringMatching(
        /^drill acme false NOT A PASS: 1 of 20 sampled files did not verify \(reported: .*archive 19 of 20 sampled files verified\)$/,
      ),
    ]);
  });
});

describe('credentials renewed for restores and restore drills (issue 14: reads outlive their one-hour credentials)', () => {
  const validated = {
    ...VALIDATED_RUN,
    restores: [{ by: 'it-admin@SO-APP01', at: new Date(Date.now() - 3_600_000).toISOString(), connectionId: 'c0', requestId: 'req-0001' }],
  };
  const renewal = (fields: Record<string, string>) =>
    JSON.stringify({ type: 'credentials-request', v: 1, runId: 'acme-2026-11-25-daily', ...fields });
  const drillTenant = (drill: Record<string, unknown>) => async () => ({
    tenantId: 'acme',
    displayName: 'Acme',
    enabled: true,
    keys: [],
    createdAt: '2026-11-01T00:00:00Z',
    issuedDrills: { 'acme-drill-0001': drill as never },
  });
  const mints: string[] = [];
  const recordingMints = (ctx: MessageContext) => {
    const mint = ctx.mintCredentials;
    ctx.mintCredentials = async (t, r, access) => {
      mints.push(`${t} ${r} ${access ?? 'upload'}`);
      return mint(t, r, access);
    };
  };
  beforeEach(() => {
    mints.length = 0;
  });

  test('GIVEN a restore the cloud granted WHEN its credentials request names the run and the grant THEN fresh read-only credentials are minted for that tenant and sent, named as asked', async () => {
    const { ctx, replies } = context(validated);
    recordingMints(ctx);
    expect(await handleConnectorMessage(renewal({ restoreRequestId: 'req-0001' }), ctx)).toBe('credentials');
    expect(mints).toEqual(['acme acme-2026-11-25-daily restore']);
    expect(replies).toEqual([
      {
        type: 'credentials',
        v: 1,
        runId: 'acme-2026-11-25-daily',
        restoreRequestId: 'req-0001',
        credentials: expect.objectContaining({ accessKeyId: 'READ-ONLY' }),
      },
    ]);
  });

  test("GIVEN a renewal for a restore never granted, for another tenant's run, or for a run no longer restorable WHEN handled THEN it is refused and nothing is minted", async () => {
    const cases: Array<[Partial<RunRecord>, string, string]> = [
      [validated, 'req-9999', 'RESTORE_UNKNOWN'],
      [{ ...validated, restores: undefined }, 'req-0001', 'RESTORE_UNKNOWN'],
      [{ ...validated, tenantId: 'beta' }, 'req-0001', 'RUN_UNKNOWN'],
      [
        { ...validated, validation: { ok: false, checkedAt: '', checks: 9, problems: ['size differs'] }, status: 'FAILED' },
        'req-0001',
        'RUN_NOT_RESTORABLE',
      ],
    ];
    for (const [run, restoreRequestId, code] of cases) {
      const { ctx, replies } = context(run);
      recordingMints(ctx);
      expect(await handleConnectorMessage(renewal({ restoreRequestId }), ctx)).toBe('rejected');
      expect(replies).toEqual([
        // Named as the request named them, so that the connector knows which of its requests was refused.
        expect.objectContaining({
          type: 'error',
          inReplyTo: 'credentials-request',
          runId: 'acme-2026-11-25-daily',
          restoreRequestId,
          error: expect.objectContaining({ code }),
        }),
      ]);
    }
    expect(mints).toEqual([]);
  });

  test('GIVEN a drill the cloud issued for that run, not yet answered nor expired WHEN its credentials request names it THEN fresh read-only credentials are minted under the drill and sent', async () => {
    const { ctx, replies } = context(validated);
    recordingMints(ctx);
    ctx.tenants.get = drillTenant({
      runId: 'acme-2026-11-25-daily',
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(await handleConnectorMessage(renewal({ drillId: 'acme-drill-0001' }), ctx)).toBe('credentials');
    expect(mints).toEqual(['acme acme-drill-0001 restore']);
    expect(replies).toEqual([
      expect.objectContaining({
        type: 'credentials',
        runId: 'acme-2026-11-25-daily',
        drillId: 'acme-drill-0001',
        credentials: expect.objectContaining({ accessKeyId: 'READ-ONLY' }),
      }),
    ]);
  });

  test('GIVEN a drill never issued, issued for another run, or expired WHEN its credentials are asked for THEN it is refused and nothing is minted', async () => {
    const future = new Date(Date.now() + 3600_000).toISOString();
    const cases: Array<[Record<string, unknown> | undefined, string]> = [
      [undefined, 'acme-drill-0002'],
      [{ runId: 'acme-2026-11-24-daily', issuedAt: '', expiresAt: future }, 'acme-drill-0001'],
      [{ runId: 'acme-2026-11-25-daily', issuedAt: '', expiresAt: new Date(Date.now() - 1000).toISOString() }, 'acme-drill-0001'],
    ];
    for (const [drill, drillId] of cases) {
      const { ctx, replies } = context(validated);
      recordingMints(ctx);
      ctx.tenants.get = drillTenant(drill ?? { runId: 'acme-2026-11-25-daily', issuedAt: '', expiresAt: future });
      expect(await handleConnectorMessage(renewal({ drillId }), ctx)).toBe('rejected');
      expect(replies).toEqual([
        expect.objectContaining({
          type: 'error',
          inReplyTo: 'credentials-request',
          runId: 'acme-2026-11-25-daily',
          drillId,
          error: expect.objectContaining({ code: 'DRILL_UNKNOWN' }),
        }),
      ]);
    }
    expect(mints).toEqual([]);
  });

  test('GIVEN a restore granted more than 48 hours ago WHEN its credentials are renewed THEN RESTORE_EXPIRED and nothing is minted; 47 hours: renewed', async () => {
    const grantedHoursAgo = (hours: number) => ({
      ...validated,
      restores: [{ ...validated.restores[0]!, at: new Date(Date.now() - hours * 3_600_000).toISOString() }],
    });
    for (const [hours, outcome] of [
      [49, 'rejected'],
      [24 * 365, 'rejected'],
      [47, 'credentials'],
    ] as const) {
      const { ctx, replies } = context(grantedHoursAgo(hours));
      recordingMints(ctx);
      expect(await handleConnectorMessage(renewal({ restoreRequestId: 'req-0001' }), ctx)).toBe(outcome);
      if (outcome === 'rejected')
        expect(replies).toEqual([
          expect.objectContaining({
            type: 'error',
            restoreRequestId: 'req-0001',
            error: expect.objectContaining({ code: 'RESTORE_EXPIRED' }),
          }),
        ]);
    }
    expect(mints).toEqual(['acme acme-2026-11-25-daily restore']);
  });

  test('GIVEN a restore granted for a database WHEN the run no longer holds it at renewal THEN RUN_LACKS_PART, as the grant would answer', async () => {
    const kept = { databases: ['SuperOffice'], archive: true };
    const granted = {
      ...validated,
      kept,
      validatedManifest: validated.manifest,
      restores: [{ ...validated.restores[0]!, wants: { database: 'SuperOffice' } }],
    };
    const lacking = { ...granted, kept: { databases: [], archive: true } };
    const ok = context(granted as Partial<RunRecord>);
    expect(await handleConnectorMessage(renewal({ restoreRequestId: 'req-0001' }), ok.ctx)).toBe('credentials');
    const { ctx, replies } = context(lacking as Partial<RunRecord>);
    recordingMints(ctx);
    expect(await handleConnectorMessage(renewal({ restoreRequestId: 'req-0001' }), ctx)).toBe('rejected');
    expect(replies).toEqual([expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'RUN_LACKS_PART' }) })]);
    expect(mints).toEqual([]);
  });

  test('GIVEN a restore granted WHEN recorded with the run THEN its request id is kept, so that its renewals can be checked against it', async () => {
    const { ctx } = context({ ...validated, restores: undefined });
    const recorded: unknown[] = [];
    ctx.runs.addRestore = async (_id, restore) => void recorded.push(restore);
    await handleConnectorMessage(
      JSON.stringify({ type: 'restore-request', v: 1, requestId: 'req-0042', run: 'latest', requestedBy: 'it-admin@SO-APP01' }),
      ctx,
    );
    expect(recorded).toEqual([expect.objectContaining({ requestId: 'req-0042', by: 'it-admin@SO-APP01' })]);
    // And what it asked the run to hold, which its renewals check again.
    recorded.length = 0;
    await handleConnectorMessage(
      JSON.stringify({
        type: 'restore-request',
        v: 1,
        requestId: 'req-0043',
        run: 'latest',
        requestedBy: 'it-admin@SO-APP01',
        wants: { database: 'SuperOffice' },
      }),
      ctx,
    );
    expect(recorded).toEqual([expect.objectContaining({ requestId: 'req-0043', wants: { database: 'SuperOffice' } })]);
  });

  test('GIVEN a credentials request naming both a drill and a restore WHEN parsed THEN it is refused as malformed', async () => {
    const { ctx, replies } = context(validated);
    expect(await handleConnectorMessage(renewal({ drillId: 'acme-drill-0001', restoreRequestId: 'req-0001' }), ctx)).toBe('rejected');
    expect(replies[0]).toMatchObject({ type: 'error', inReplyTo: 'credentials-request' });
  });
});

describe('every refusal leaves a trace (issue 14, re-check N3)', () => {
  const validated = {
    ...VALIDATED_RUN,
    restores: [{ by: 'it-admin@SO-APP01', at: new Date(Date.now() - 3_600_000).toISOString(), connectionId: 'c0', requestId: 'req-0001' }],
  };
  let warnings: Array<Record<string, unknown>>;
  beforeEach(() => {
    warnings = [];
    jest.spyOn(logger, 'warn').mockImplementation(((fields: Record<string, unknown>, text: string) => {
      warnings.push({ ...fields, text });
    }) as never);
  });
  afterEach(() => jest.restoreAllMocks());

  test.each<[string, Partial<RunRecord>, Record<string, unknown>, string, Record<string, string>]>([
    [
      "a backup's credentials for another tenant's run",
      { tenantId: 'beta' },
      { type: 'credentials-request', runId: 'acme-2026-11-25-daily' },
      'RUN_UNKNOWN',
      { runId: 'acme-2026-11-25-daily' },
    ],
    [
      "a backup's credentials for a run that ended",
      { status: 'SUCCEEDED' },
      { type: 'credentials-request', runId: 'acme-2026-11-25-daily' },
      'RUN_NOT_RUNNING',
      { runId: 'acme-2026-11-25-daily' },
    ],
    [
      "a restore of another tenant's run",
      { ...validated, tenantId: 'beta' },
      { type: 'restore-request', requestId: 'req-0002', run: 'beta-2026-11-25-daily', requestedBy: 'x@SO' },
      'RUN_UNKNOWN',
      { run: 'beta-2026-11-25-daily', requestId: 'req-0002' },
    ],
    [
      'a renewal of a restore never granted',
      validated,
      { type: 'credentials-request', runId: 'acme-2026-11-25-daily', restoreRequestId: 'req-9999' },
      'RESTORE_UNKNOWN',
      { restoreRequestId: 'req-9999' },
    ],
    [
      "a renewal for another tenant's run",
      { ...validated, tenantId: 'beta' },
      { type: 'credentials-request', runId: 'acme-2026-11-25-daily', restoreRequestId: 'req-0001' },
      'RUN_UNKNOWN',
      { restoreRequestId: 'req-0001' },
    ],
    [
      'a renewal of a drill never issued',
      validated,
      { type: 'credentials-request', runId: 'acme-2026-11-25-daily', drillId: 'acme-drill-0009' },
      'DRILL_UNKNOWN',
      { drillId: 'acme-drill-0009' },
    ],
  ])(
    'GIVEN %s WHEN refused THEN a warning names the tenant, the connection, what was asked and the code',
    async (_what, run, message, code, ids) => {
      const { ctx } = context(run);
      expect(await handleConnectorMessage(JSON.stringify({ v: 1, ...message }), ctx)).toBe('rejected');
      expect(warnings).toContainEqual(
        expect.objectContaining({
          tenantId: 'acme',
          connectionId: 'c1',
          asked: message.type,
          code,
          ...ids,
          text: expect.stringContaining(code),
        }),
      );
    },
  );
});

describe('settings-request: presence (issue 18)', () => {
  const presence = testPresenceSettings();
  const drills = { DRILL_INTERVAL_DAYS: 7, DRILL_SAMPLE_FILES: 20, DRILL_DATABASE: 'true' as const };
  const tenant = {
    tenantId: 'acme',
    displayName: 'Acme',
    enabled: true,
    keys: [],
    createdAt: '2026-11-01T00:00:00Z',
    backupHour: 2,
    backupMinute: 15,
    lastRunId: 'acme-2026-11-25-daily',
    lastDrill: { drillId: 'd0', runId: 'r0', ok: true, at: '2026-11-24T12:00:00.000Z', detail: 'ok' },
  };
  const now = new Date('2026-11-25T12:00:00.000Z');

  test("the message function's presence environment (set by the stack) is checked at cold start, each mistake named", () => {
    const env = {
      CONNECTOR_PRESENCE: 'check-in',
      CHECK_IN_SECONDS: '3600',
      SCHEDULE_TIME_ZONE: 'Europe/Oslo',
      DEFAULT_BACKUP_HOUR: '2',
      BACKUP_WINDOW_HOURS: '4',
      OFFLINE_RETRY_SECONDS: '900',
      OFFLINE_RETRY_WINDOW_SECONDS: '14400',
    };
    expect(presenceSettings(presenceEnvironmentSchema.parse(env))).toEqual(presence);
    const problems = (changes: Record<string, string | undefined>) =>
      presenceEnvironmentSchema.safeParse({ ...env, ...changes }).error?.issues.map((i) => i.path.join('.'));
    expect(problems({ CONNECTOR_PRESENCE: 'sometimes' })).toEqual(['CONNECTOR_PRESENCE']);
    expect(problems({ CHECK_IN_SECONDS: '30' })).toEqual(['CHECK_IN_SECONDS']);
    expect(problems({ CHECK_IN_SECONDS: String(6 * 3600 + 1) })).toEqual(['CHECK_IN_SECONDS']);
    expect(problems({ OFFLINE_RETRY_SECONDS: undefined })).toEqual(['OFFLINE_RETRY_SECONDS']);
  });

  test('GIVEN a check-in stack THEN settings carry the interval and the next slot (02:15 CET), nothing waiting', async () => {
    const { ctx, replies } = context(VALIDATED_RUN);
    Object.assign(ctx, { presence, drills, now: () => now });
    ctx.tenants.get = async () => tenant;
    expect(await handleConnectorMessage('{"type":"settings-request","v":1}', ctx)).toBe('settings');
    expect(replies).toEqual([
      {
        type: 'settings',
        v: 1,
        bandwidth: null,
        presence: { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: '2026-11-26T01:15:00.000Z', stayUntil: null },
      },
    ]);
  });

  test('GIVEN a run waiting for the connector (RUNNING, not handed to a connection) THEN it is asked to stay through the next retry', async () => {
    const { ctx, replies } = context({ status: 'RUNNING', startedAt: '2026-11-25T11:40:00.000Z', taskToken: 't' });
    Object.assign(ctx, { presence, drills, now: () => now });
    ctx.tenants.get = async () => tenant;
    await handleConnectorMessage('{"type":"settings-request","v":1}', ctx);
    expect(replies[0]).toMatchObject({ type: 'settings', presence: { mode: 'check-in', stayUntil: '2026-11-25T12:17:00.000Z' } });
  });

  test("GIVEN the tenant's own 'always' THEN presence is always and no drill is asked here (the hourly check finds it online)", async () => {
    const { ctx, replies, calls } = context(VALIDATED_RUN);
    Object.assign(ctx, { presence, drills, now: () => now });
    ctx.tenants.get = async () => ({ ...tenant, presence: 'always' as const, lastDrill: undefined });
    await handleConnectorMessage('{"type":"settings-request","v":1}', ctx);
    expect(replies).toEqual([{ type: 'settings', v: 1, bandwidth: null, presence: { mode: 'always' } }]);
    expect(calls).toEqual([]);
  });

  test('GIVEN a checking-in connector whose drill is due THEN the drill is issued, sent on this connection before the settings, and recorded as requested', async () => {
    const { ctx, replies, calls } = context(VALIDATED_RUN);
    Object.assign(ctx, { presence, drills, now: () => now });
    ctx.tenants.get = async () => ({ ...tenant, lastDrill: { ...tenant.lastDrill, at: '2026-11-17T12:00:00.000Z' } });
    await handleConnectorMessage('{"type":"settings-request","v":1}', ctx);
    expect(replies.map((r) => r.type)).toEqual(['drill-job', 'settings']);
    expect(replies[0]).toMatchObject({
      type: 'drill-job',
      runId: 'acme-2026-11-25-daily',
      manifest: VALIDATED_RUN.manifest,
      credentials: { accessKeyId: 'READ-ONLY' },
      database: true,
      sampleFiles: 20,
    });
    expect(calls).toEqual(['issue acme acme-2026-11-25-daily true', 'drill requested acme']);
  });

  test('GIVEN a drill due WHEN a backup runs or waits for the connector THEN no drill is asked at this check-in (the backup goes first), and the settings ask it to stay', async () => {
    const { ctx, replies, calls } = context({ status: 'RUNNING', startedAt: '2026-11-25T11:40:00.000Z', taskToken: 't' });
    Object.assign(ctx, { presence, drills, now: () => now });
    ctx.tenants.get = async () => ({ ...tenant, lastDrill: undefined });
    await handleConnectorMessage('{"type":"settings-request","v":1}', ctx);
    expect(replies.map((r) => r.type)).toEqual(['settings']);
    expect(replies[0]).toMatchObject({ presence: { stayUntil: '2026-11-25T12:17:00.000Z' } });
    expect(calls).toEqual([]);
  });

  test('GIVEN the connection gone before the drill reached it THEN the drill is not recorded as requested and no settings are sent', async () => {
    const { ctx, calls } = context(VALIDATED_RUN);
    Object.assign(ctx, { presence, drills, now: () => now, reply: async () => 'gone' as const });
    ctx.tenants.get = async () => ({ ...tenant, lastDrill: undefined });
    expect(await handleConnectorMessage('{"type":"settings-request","v":1}', ctx)).toBe('settings');
    expect(calls).toEqual(['issue acme acme-2026-11-25-daily true']);
  });
});
