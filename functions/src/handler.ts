import type { Logger } from 'pino';
import { z } from 'zod';
import type { HandlerName } from './handler-names';
import { awsClients, connectionsClient, readEnvironment, tableEnvironmentSchema } from './shared/aws-clients';
import { logger } from './shared/logger';
import { MetricsBuffer } from './shared/metrics';
import {
  ConnectionStore,
  connectorTarget,
  connectorTargetEnvironmentSchema,
  NonceStore,
  RunError,
  RunStore,
  TenantStore,
  uploadCredentialVendorFromEnv,
} from '../../core';

/** What every invocation of a handler gets besides its event. */
export interface Invocation<Env, Deps> {
  /** The function's environment, parsed once per process. */
  readonly env: Env;
  /** What `setup` built once per process (clients, stores). */
  readonly deps: Deps;
  /** The logger, bound to the handler's name and to the run (or tenant and connection) the event is about. */
  readonly log: Logger;
  /** Metrics for this invocation: published as one CloudWatch embedded-metric-format line when it ends, even when it fails. */
  readonly metrics: MetricsBuffer;
}

/** How a handler reads its event: a zod schema (a mismatch fails with InvalidInput naming the fields), or a parse function. */
export type EventReader<Event> = { readonly schema: z.ZodType<Event>; readonly what: string } | ((raw: unknown) => Event);

export interface HandlerSpec<Env extends z.ZodObject, Deps, Event> {
  readonly name: HandlerName;
  /** The environment's schema; a missing or wrong variable fails the cold start, naming it. */
  readonly environment: Env;
  /** Builds what every invocation shares (clients, stores) from the parsed environment, once per process. */
  readonly setup?: (env: z.infer<Env>) => Deps;
  readonly event?: EventReader<Event>;
  /** What to bind to the logger for an event: its run id (`{ runId }`), or its tenant and connection. */
  readonly bind?: (event: Event) => Record<string, string | undefined>;
}

/**
 * A Lambda handler with the concerns every one of ours shares, once (as Powertools' middleware
 * does): the environment parsed with a schema at cold start, the event parsed, a logger bound to
 * the run, and metrics flushed when the invocation ends. `handle` is left with its own logic.
 */
export function defineHandler<Env extends z.ZodObject, Deps = undefined, Event = unknown, Result = unknown>(
  spec: HandlerSpec<Env, Deps, Event>,
  handle: (event: Event, invocation: Invocation<z.infer<Env>, Deps>) => Promise<Result>,
): (raw: unknown) => Promise<Result> {
  const env = readEnvironment(spec.environment);
  const deps = spec.setup ? spec.setup(env) : (undefined as Deps);
  return async (raw: unknown) => {
    const event = readEvent(spec.event, raw);
    const bindings = Object.fromEntries(Object.entries(spec.bind?.(event) ?? {}).filter(([, value]) => value !== undefined));
    const metrics = new MetricsBuffer();
    try {
      return await handle(event, { env, deps, log: logger.child({ handler: spec.name, ...bindings }), metrics });
    } finally {
      metrics.flush();
    }
  };
}

function readEvent<Event>(reader: EventReader<Event> | undefined, raw: unknown): Event {
  if (!reader) return raw as Event;
  if (typeof reader === 'function') return reader(raw);
  const parsed = reader.schema.safeParse(raw);
  if (!parsed.success) throw new RunError('InvalidInput', `${reader.what}: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  return parsed.data;
}

/** The store of each table the environment names (a store holds only the client and the table's name: building one costs nothing). */
export function tableStores(env: z.infer<typeof tableEnvironmentSchema>) {
  const { dynamo } = awsClients();
  return {
    tenants: new TenantStore(dynamo, env.TENANTS_TABLE),
    connections: new ConnectionStore(dynamo, env.CONNECTIONS_TABLE),
    runs: new RunStore(dynamo, env.RUNS_TABLE),
    nonces: new NonceStore(dynamo, env.NONCES_TABLE),
  };
}

/** The environment of a function that sends jobs to connectors: the tables, where connectors keep backups, and the stage's @connections endpoint. */
export const jobSenderEnvironmentSchema = tableEnvironmentSchema
  .extend(connectorTargetEnvironmentSchema.shape)
  .extend({ CONNECTIONS_ENDPOINT: z.url() });

/** What sending a job takes: the stores, the @connections client, credentials to hand the connector, and where it reads and writes. */
export function jobSender(env: z.infer<typeof jobSenderEnvironmentSchema>) {
  return {
    ...tableStores(env),
    management: connectionsClient(env.CONNECTIONS_ENDPOINT),
    credentials: uploadCredentialVendorFromEnv(awsClients().sts, process.env),
    target: connectorTarget(env),
  };
}
