import type { HandlerName } from '../../functions/src/handler-names';
import type { LocalDeployment } from './local-deployment';

type Handler = (event: unknown) => Promise<unknown>;

/** The handler modules by name; the same files the stack bundles into its functions. */
const HANDLER_MODULES: Record<HandlerName, () => Promise<{ handler: unknown }>> = {
  authorizer: () => import('../../functions/src/authorizer/handler'),
  connect: () => import('../../functions/src/connect/handler'),
  disconnect: () => import('../../functions/src/disconnect/handler'),
  message: () => import('../../functions/src/message/handler'),
  'prepare-run': () => import('../../functions/src/prepare-run/handler'),
  'request-backup': () => import('../../functions/src/request-backup/handler'),
  'validate-run': () => import('../../functions/src/validate-run/handler'),
  'finalize-run': () => import('../../functions/src/finalize-run/handler'),
  'mark-run-failed': () => import('../../functions/src/mark-run-failed/handler'),
  'list-tenants': () => import('../../functions/src/list-tenants/handler'),
  'check-stale-tenants': () => import('../../functions/src/check-stale-tenants/handler'),
  'request-drills': () => import('../../functions/src/request-drills/handler'),
};

/** A function's error as Step Functions sees it: `name` is the errorType, the cause is JSON. */
export class LambdaFunctionError extends Error {
  constructor(errorType: string, errorMessage: string) {
    super(JSON.stringify({ errorType, errorMessage }));
    this.name = errorType;
  }
}

/** Invokes a function by ARN (or handler name); what the gateway and the state machines need. */
export interface FunctionInvoker {
  invoke(arnOrHandler: string, event: unknown): Promise<unknown>;
}

/**
 * Runs the stack's Lambda functions in this process. Each function's environment comes from the
 * template (resolved to local names) plus local overrides (endpoints, local keys); since all
 * run in one process, a variable must mean the same to every function that has it.
 */
export class LocalLambda implements FunctionInvoker {
  private readonly byArn = new Map<string, HandlerName>();
  private readonly loaded = new Map<HandlerName, Handler>();

  constructor(deployment: LocalDeployment, overrides: Record<string, string>) {
    const merged: Record<string, string> = {};
    for (const fn of deployment.functions) {
      this.byArn.set(fn.arn, fn.handler);
      for (const [key, value] of Object.entries(fn.environment)) {
        if (key in overrides) continue;
        if (key in merged && merged[key] !== value) throw new Error(`functions disagree on ${key} ("${merged[key]}" vs "${value}"); local mode runs them in one process`);
        merged[key] = value;
      }
    }
    Object.assign(process.env, merged, overrides);
  }

  handlerFor(arnOrName: string): HandlerName {
    const name = this.byArn.get(arnOrName) ?? [...this.byArn.entries()].find(([arn]) => arn.endsWith(`:function:${arnOrName}`))?.[1];
    if (!name) throw new Error(`no local function for ${arnOrName}`);
    return name;
  }

  /** Invokes a handler by function ARN or handler name; errors become LambdaFunctionError. */
  async invoke(arnOrHandler: string, event: unknown): Promise<unknown> {
    const name = (Object.keys(HANDLER_MODULES) as HandlerName[]).includes(arnOrHandler as HandlerName)
      ? (arnOrHandler as HandlerName)
      : this.handlerFor(arnOrHandler);
    let handler = this.loaded.get(name);
    if (!handler) {
      handler = (await HANDLER_MODULES[name]()).handler as Handler;
      this.loaded.set(name, handler);
    }
    try {
      // A JSON round trip, as Lambda does: handlers never share objects with the caller.
      return JSON.parse(JSON.stringify((await handler(JSON.parse(JSON.stringify(event)))) ?? null));
    } catch (error) {
      const e = error as Error;
      throw new LambdaFunctionError(e.name && e.name !== 'Error' ? e.name : 'Error', e.message);
    }
  }
}
