import { z } from 'zod';
import { defineHandler } from '../../functions/src/handler';
import { HANDLER_NAMES } from '../../functions/src/handler-names';

/** defineHandler (functions/src/handler.ts): what every handler shares, once. */
describe('defineHandler', () => {
  const ENV = { TENANTS_TABLE: 't', CONNECTIONS_TABLE: 'c', RUNS_TABLE: 'r', NONCES_TABLE: 'n' };
  let saved: NodeJS.ProcessEnv;
  let lines: string[];
  beforeEach(() => {
    saved = { ...process.env };
    Object.assign(process.env, ENV);
    lines = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((line: string | Uint8Array) => {
      lines.push(String(line));
      return true;
    });
  });
  afterEach(() => {
    process.env = saved;
    jest.restoreAllMocks();
  });
  const metricLines = () => lines.filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);

  test('GIVEN a missing or malformed variable WHEN the function starts THEN it refuses, naming each', () => {
    delete process.env.RUNS_TABLE;
    process.env.LIMIT = 'many';
    expect(() =>
      defineHandler(
        { name: 'prepare-run', environment: z.object({ RUNS_TABLE: z.string().min(1), LIMIT: z.coerce.number() }) },
        async () => undefined,
      ),
    ).toThrow(/function environment is invalid: .*RUNS_TABLE.*LIMIT/);
  });

  test('GIVEN several invocations THEN the environment is parsed and setup runs once per process', async () => {
    const setup = jest.fn((env: { RUNS_TABLE: string }) => ({ table: env.RUNS_TABLE }));
    const handler = defineHandler(
      { name: 'prepare-run', environment: z.object({ RUNS_TABLE: z.string() }), setup },
      async (_event, { deps, env }) => `${deps.table}/${env.RUNS_TABLE}`,
    );
    expect(await handler({})).toBe('r/r');
    expect(await handler({})).toBe('r/r');
    expect(setup).toHaveBeenCalledTimes(1);
  });

  test('GIVEN an event its schema refuses WHEN invoked THEN it fails with InvalidInput naming the field, and the handler is not run', async () => {
    const handle = jest.fn(async () => 'ran');
    const handler = defineHandler(
      {
        name: 'validate-run',
        environment: z.object({}),
        event: { schema: z.object({ run: z.object({ runId: z.string() }) }), what: 'Validate input' },
      },
      handle,
    );
    await expect(handler({ run: {} })).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/^Validate input: .*run\.runId/),
    });
    expect(handle).not.toHaveBeenCalled();
  });

  test('GIVEN an event about a run WHEN it logs THEN every line carries the handler and the run id', async () => {
    const handler = defineHandler(
      {
        name: 'finalize-run',
        environment: z.object({}),
        event: { schema: z.object({ run: z.object({ runId: z.string() }) }), what: 'Finalize input' },
        bind: ({ run }) => ({ runId: run.runId, tenantId: undefined }),
      },
      async (_event, { log }) => log.bindings(),
    );
    expect(await handler({ run: { runId: 'acme-2026-11-25-daily' } })).toEqual({
      service: 'so-backup',
      handler: 'finalize-run',
      runId: 'acme-2026-11-25-daily',
    });
  });

  test('GIVEN metrics added during an invocation WHEN it ends, even by failing THEN they are published as one embedded-metric-format line', async () => {
    const handler = defineHandler({ name: 'check-stale-tenants', environment: z.object({}) }, async (event: unknown, { metrics }) => {
      metrics.add({ StaleTenants: 2 });
      metrics.add({ BackupUploadedBytes: 5 }, { BackupUploadedBytes: 'Bytes' });
      if (event === 'fail') throw new Error('SNS is down');
      return 'ok';
    });
    await handler('ok');
    await expect(handler('fail')).rejects.toThrow('SNS is down');
    const published = metricLines();
    expect(published).toHaveLength(2);
    for (const line of published) {
      expect(line).toMatchObject({
        StaleTenants: 2,
        BackupUploadedBytes: 5,
        _aws: {
          CloudWatchMetrics: [
            {
              Namespace: 'SoBackup',
              Metrics: [
                { Name: 'StaleTenants', Unit: 'Count' },
                { Name: 'BackupUploadedBytes', Unit: 'Bytes' },
              ],
            },
          ],
        },
      });
    }
  });

  test('GIVEN no metrics WHEN an invocation ends THEN nothing is published', async () => {
    await defineHandler({ name: 'connect', environment: z.object({}) }, async () => 'ok')({});
    expect(metricLines()).toEqual([]);
  });

  test.each(HANDLER_NAMES)(
    'the %s handler reads its environment through defineHandler: without it, it refuses to start, naming the tables',
    (name) => {
      for (const key of Object.keys(ENV)) delete process.env[key];
      jest.isolateModules(() => {
        expect(() => require(`../../functions/src/${name}/handler`)).toThrow(/function environment is invalid: .*TENANTS_TABLE/);
      });
    },
  );
});
