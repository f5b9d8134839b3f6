// Lambda's Node.js runtime on this machine, for one execution environment of one function.
// Started by local/cloud/local-lambda.ts on the Node major of the function's runtime (Node
// strips the types: only erasable TypeScript here, and nothing but node: imports). It loads the
// handler from the function's bundle (LAMBDA_TASK_ROOT and _HANDLER, as Lambda does), then
// answers invocations from its parent over IPC one at a time, as Lambda's runtime interface
// client answers the Runtime API: a result, or an error as { errorType, errorMessage, trace }.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Invocation { id: string; event: unknown; deadlineMs: number; invokedFunctionArn: string }
type Handler = (event: unknown, context: object) => Promise<unknown>;

function errorOf(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: e.name || 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
}

async function loadHandler(): Promise<Handler> {
  const root = process.env.LAMBDA_TASK_ROOT ?? '';
  const spec = process.env._HANDLER ?? '';
  const dot = spec.lastIndexOf('.');
  if (dot < 1) throw Object.assign(new Error(`Bad handler ${spec}`), { name: 'Runtime.MalformedHandlerName' });
  const base = path.join(root, spec.slice(0, dot));
  const name = spec.slice(dot + 1);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((candidate) => existsSync(candidate));
  if (!file) throw Object.assign(new Error(`Cannot find module '${spec.slice(0, dot)}'`), { name: 'Runtime.ImportModuleError' });
  const module = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : createRequire(file)(file);
  const handler = (module as Record<string, unknown>)[name];
  if (typeof handler !== 'function') throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  return handler as Handler;
}

function send(message: object): void {
  process.send?.(message);
}

loadHandler().then((handler) => {
  let busy = false;
  process.on('message', (raw: Invocation) => {
    if (busy) {
      send({ id: raw.id, error: { errorType: 'Runtime.Busy', errorMessage: 'an execution environment runs one invocation at a time', trace: [] } });
      return;
    }
    busy = true;
    const context = {
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: raw.invokedFunctionArn, memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, awsRequestId: raw.id,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME, logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME, callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, raw.deadlineMs - Date.now()),
    };
    process.stdout.write(`START RequestId: ${raw.id} Version: ${context.functionVersion}\n`);
    const started = Date.now();
    Promise.resolve().then(() => handler(raw.event, context)).then(
      (result) => send({ id: raw.id, result: result === undefined ? null : result }),
      (error: unknown) => send({ id: raw.id, error: errorOf(error) }),
    ).finally(() => {
      busy = false;
      process.stdout.write(`END RequestId: ${raw.id}\nREPORT RequestId: ${raw.id}\tDuration: ${Date.now() - started} ms\n`);
    });
  });
  send({ ready: true });
}, (error: unknown) => {
  send({ initError: errorOf(error) });
  process.exitCode = 1;
});

// An unhandled rejection or exception ends the environment, as it does in Lambda.
process.on('unhandledRejection', (reason) => {
  send({ fatal: { ...errorOf(reason), errorType: 'Runtime.UnhandledPromiseRejection' } });
  process.exit(128);
});
