import { randomUUID } from 'node:crypto';
import { TokenBucket } from '../../protocol';
import { AccessDeniedError, type Caller, type IamAuthorizer } from '../iam/iam-authorizer';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalDeployment, type LocalStateMachine } from './local-deployment';
import { type FunctionInvoker, LambdaInvokeError } from './local-lambda';
import { type StateMachineRunner, stepFunctionsLibrary } from './step-functions-library';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** A history event in the shape of Step Functions' GetExecutionHistory. */
export interface HistoryEvent {
  id: number;
  timestamp: Date;
  type: string;
  stateName?: string;
  error?: string;
  cause?: string;
}

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  done: Promise<void>;
}

/** SNS as a state machine's task reaches it: a publish on behalf of the state machine's role. */
export interface TopicPublisher {
  publish(caller: Caller, topicArn: string, message: string, subject?: string): Promise<string>;
}

export interface LocalStepFunctionsOptions {
  /** Judges every call a state machine makes with its role (and that Step Functions may assume the role). */
  authorizer: IamAuthorizer;
  sns: TopicPublisher;
  /** Called when an execution ends (CloudWatch's AWS/States metrics come from this). */
  onExecutionEnd?(execution: Execution): void;
  /**
   * The StartExecution token bucket. @default 800, refilled 150/s — the smaller of Step Functions'
   * two published quotas ("all other regions"; 1,300 and 300/s in us-east-1, us-west-2 and
   * eu-west-1), so local mode is never more lenient than a region. `clock` (milliseconds) times
   * its refill: the wall clock unless a test wants a deterministic one.
   */
  startExecutionQuota?: { burst: number; ratePerSecond: number; clock?: () => number };
}

/** The rule Step Functions manages for `.sync` child executions (Step Functions developer guide, "IAM policies for integrated services"). */
const SYNC_EVENTS_RULE = `arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`;

/** An error the state machine matches by name, as Step Functions' own "States.*" errors. */
class StatesError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

const TOKEN_PLACEHOLDER = '__so_backup_local_task_token__';

/**
 * Step Functions gives a Task state without TimeoutSeconds 99,999,999 seconds ("Task workflow
 * state" in the Step Functions Developer Guide); the States Language spec, which the local runner
 * follows, says 60. Local mode runs the definition as AWS would, with the longest timeout a Node
 * timer can hold (2^31 − 1 ms, about 24.8 days; a longer one fires at once).
 */
const NO_TASK_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export function withAwsTaskTimeouts(definition: Record<string, unknown>): Record<string, unknown> {
  const visit = (states: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> =>
    Object.fromEntries(
      Object.entries(states).map(([name, state]) => {
        const next: Record<string, unknown> = { ...state };
        if (state.Type === 'Task' && state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined)
          next.TimeoutSeconds = NO_TASK_TIMEOUT_SECONDS;
        for (const key of ['ItemProcessor', 'Iterator'] as const) {
          const inner = state[key] as { States?: Record<string, Record<string, unknown>> } | undefined;
          if (inner?.States) next[key] = { ...inner, States: visit(inner.States) };
        }
        if (Array.isArray(state.Branches))
          next.Branches = (state.Branches as Array<{ States: Record<string, Record<string, unknown>> }>).map((b) => ({
            ...b,
            States: visit(b.States),
          }));
        return [name, next];
      }),
    );
  return { ...definition, States: visit(definition.States as Record<string, Record<string, unknown>>) };
}

interface TaskWaiter {
  resolve(output: unknown): void;
  reject(error: Error): void;
  heartbeat(): void;
}

/**
 * Step Functions on this machine: runs the stack's own state machine definitions with
 * aws-local-stepfunctions, dispatching Task states by their Resource — Lambda functions to the
 * local Lambda, `.waitForTaskToken` with real task tokens (SendTaskSuccess/Failure/Heartbeat,
 * HeartbeatSeconds enforced), `states:startExecution(.sync)` to child executions, `sns:publish`
 * to the local SNS. Each call is made as the state machine's role, so the template's policies
 * decide it as in AWS; a refusal fails the task with the service's error.
 */
export class LocalStepFunctions {
  readonly executions = new Map<string, Execution>();
  private readonly waiters = new Map<string, TaskWaiter>();
  private readonly machines = new Map<string, LocalStateMachine>();
  private readonly runners = new Map<string, StateMachineRunner>();
  private readonly library = stepFunctionsLibrary();
  /** How to stop each running execution (StopExecution), with the error and cause it was stopped with. */
  private readonly stoppers = new Map<string, (error?: string, cause?: string) => void>();
  /** Task token → the state machine whose execution it belongs to (what SendTask* calls are authorized on). */
  private readonly tokenMachines = new Map<string, string>();
  /** Per state machine: may Step Functions assume its role (the role's trust policy)? */
  private readonly trust = new Map<string, Promise<void>>();

  /** Step Functions' StartExecution quota for Standard workflows, per account and region. */
  private readonly startQuota: TokenBucket;
  private readonly quotaClock: () => number;
  readonly counters = { startsThrottled: 0 };

  constructor(
    deployment: LocalDeployment,
    private readonly lambda: FunctionInvoker,
    private readonly options: LocalStepFunctionsOptions,
  ) {
    for (const machine of deployment.stateMachines)
      this.machines.set(machine.arn, { ...machine, definition: withAwsTaskTimeouts(machine.definition) });
    const quota = options.startExecutionQuota ?? { burst: 800, ratePerSecond: 150 };
    this.quotaClock = quota.clock ?? Date.now;
    this.startQuota = new TokenBucket(quota.ratePerSecond, quota.burst, this.quotaClock());
  }

  /** The state machine a task token was issued for. @throws InvalidToken for a token never issued */
  stateMachineOfToken(taskToken: string): string {
    const machine = this.tokenMachines.get(taskToken);
    if (!machine) throw new StatesError('InvalidToken', `Invalid Token: '${taskToken.slice(0, 40)}'`);
    return machine;
  }

  stateMachineArn(name: string): string {
    const machine = [...this.machines.values()].find((m) => m.name === name);
    if (!machine) throw new Error(`no state machine named ${name}`);
    return machine.arn;
  }

  /**
   * StartExecution, as Step Functions does it for Standard workflows: throttled by the account's
   * token bucket (ThrottlingException), and idempotent — the same name and input as a running
   * execution return that execution; a name taken otherwise is ExecutionAlreadyExists.
   */
  startExecution(stateMachineArn: string, input: string | undefined, name: string = randomUUID()): Execution {
    const machine = this.machines.get(stateMachineArn);
    if (!machine) throw new StatesError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new StatesError('InvalidName', `Invalid Name: '${name}'`);
    if (!this.startQuota.tryTake(this.quotaClock())) {
      this.counters.startsThrottled++;
      throw new StatesError('ThrottlingException', 'Rate exceeded');
    }
    const executionArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${machine.name}:${name}`;
    const inputText = input ?? '{}';
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === inputText) return existing;
      throw new StatesError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const startDate = new Date();
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      status: 'RUNNING',
      startDate,
      input: inputText,
      history: [],
      done: Promise.resolve(),
    };
    this.executions.set(executionArn, execution);
    // Validating a definition takes most of a second: one runner per state machine serves every execution.
    let runner = this.runners.get(machine.arn);
    if (!runner) {
      runner = new this.library.StateMachine(machine.definition as never, { validationOptions: { checkPaths: false, checkArn: false } });
      this.runners.set(machine.arn, runner);
    }
    const run = runner.run(JSON.parse(inputText), {
      overrides: { taskResourceLocalHandlers: this.taskHandlers(machine.definition, execution) },
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          Input: JSON.parse(inputText),
          StartTime: startDate.toISOString(),
          RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/local`,
        },
        StateMachine: { Id: stateMachineArn, Name: machine.name },
        Task: { Token: TOKEN_PLACEHOLDER },
      },
    });
    const recordHistory = (async () => {
      for await (const event of run.eventLogs) {
        const e = event as { type: string; timestamp: number; state?: { name: string; type: string }; Error?: string; Cause?: unknown };
        const type = e.state ? `${e.state.type}${e.type}` : e.type;
        execution.history.push({
          id: execution.history.length + 1,
          timestamp: new Date(e.timestamp),
          type,
          stateName: e.state?.name,
          error: e.Error,
          cause: e.Cause === undefined ? undefined : typeof e.Cause === 'string' ? e.Cause : JSON.stringify(e.Cause),
        });
      }
    })();
    let stopped: { error?: string; cause?: string } | undefined;
    this.stoppers.set(executionArn, (error, cause) => {
      stopped = { error, cause };
      run.abort();
    });
    execution.done = run.result
      .then(
        (output) => {
          execution.status = 'SUCCEEDED';
          execution.output = JSON.stringify(output ?? null);
        },
        (error: Error) => {
          execution.status = stopped ? 'ABORTED' : error.name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : 'FAILED';
          execution.error = stopped ? stopped.error : error.name;
          execution.cause = stopped ? stopped.cause : error.message;
        },
      )
      .then(async () => {
        this.stoppers.delete(executionArn);
        await recordHistory.catch(() => undefined);
        execution.stopDate = new Date();
        // The runner's ExecutionFailed event carries the state machine's own error and cause (e.g. a Fail state's).
        const failed = [...execution.history].reverse().find((h) => h.type === 'ExecutionFailed');
        if (failed && !stopped) {
          execution.error = failed.error ?? execution.error;
          execution.cause = failed.cause ?? execution.cause;
        }
        this.options.onExecutionEnd?.(execution);
      });
    return execution;
  }

  describe(executionArn: string): Execution {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new StatesError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  /** Stops a running execution (ABORTED); stopping one that has ended changes nothing, as in AWS. */
  async stopExecution(executionArn: string, error?: string, cause?: string): Promise<Date> {
    const execution = this.describe(executionArn);
    this.stoppers.get(executionArn)?.(error, cause);
    await execution.done;
    return execution.stopDate ?? new Date();
  }

  sendTaskSuccess(taskToken: string, output: string): void {
    this.waiter(taskToken).resolve(JSON.parse(output));
  }

  sendTaskFailure(taskToken: string, error = 'TaskFailed', cause = ''): void {
    this.waiter(taskToken).reject(new StatesError(error, cause));
  }

  sendTaskHeartbeat(taskToken: string): void {
    this.waiter(taskToken).heartbeat();
  }

  private waiter(taskToken: string): TaskWaiter {
    const waiter = this.waiters.get(taskToken);
    if (!waiter)
      throw new StatesError(taskToken.startsWith('local-') ? 'TaskTimedOut' : 'InvalidToken', 'Task Timed Out or does not exist');
    return waiter;
  }

  /** One local handler per Task state (Map iterations included), chosen by the state's Resource. */
  private taskHandlers(definition: Record<string, unknown>, execution: Execution): Record<string, (input: unknown) => Promise<never>> {
    const handlers: Record<string, (input: unknown) => Promise<never>> = {};
    const visit = (states: Record<string, Record<string, unknown>>) => {
      for (const [stateName, state] of Object.entries(states)) {
        if (state.Type === 'Task')
          handlers[stateName] = (input) => this.runTask(String(state.Resource), state, input, execution) as Promise<never>;
        const inner = (state.ItemProcessor ?? state.Iterator) as { States?: Record<string, Record<string, unknown>> } | undefined;
        if (inner?.States) visit(inner.States);
        for (const branch of (state.Branches as Array<{ States: Record<string, Record<string, unknown>> }> | undefined) ?? [])
          visit(branch.States);
      }
    };
    visit(definition.States as Record<string, Record<string, unknown>>);
    return handlers;
  }

  /** The role session a state machine's calls are made with. */
  private callerOf(execution: Execution): Caller {
    const machine = this.machines.get(execution.stateMachineArn)!;
    return { kind: 'role', roleArn: machine.roleArn, sessionName: execution.name.slice(0, 64) };
  }

  /** Step Functions assumes the state machine's role: its trust policy must let states.amazonaws.com in for this state machine. */
  private assumeRole(execution: Execution): Promise<void> {
    const machine = this.machines.get(execution.stateMachineArn)!;
    let trusted = this.trust.get(machine.arn);
    if (!trusted) {
      trusted = this.options.authorizer
        .decide(
          { kind: 'service', service: 'states.amazonaws.com', sourceArn: machine.arn, sourceAccount: LOCAL_ACCOUNT },
          { action: 'sts:AssumeRole', resource: machine.roleArn },
        )
        .then((decision) => {
          if (!decision.allowed)
            throw new StatesError(
              'States.Runtime',
              `Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role: ${decision.message}`,
            );
        });
      this.trust.set(machine.arn, trusted);
    }
    return trusted;
  }

  private async runTask(resource: string, state: Record<string, unknown>, input: unknown, execution: Execution): Promise<unknown> {
    await this.assumeRole(execution);
    const caller = this.callerOf(execution);
    try {
      return await this.callService(resource, state, input, execution, caller);
    } catch (error) {
      // Refusals fail the task with the integrated service's error, named as Step Functions names them.
      if (error instanceof LambdaInvokeError)
        throw new StatesError(
          `Lambda.${error.code === 'AccessDeniedException' ? 'AWSLambdaException' : error.code}`,
          `${error.message} (Service: Lambda, Status Code: ${error.status}, Error Code: ${error.code})`,
        );
      if (error instanceof AccessDeniedError) {
        const service = error.request.action.split(':')[0]!;
        const kms = service === 'kms';
        const name = resource.includes(':sns:')
          ? `SNS.${kms ? 'KMSAccessDeniedException' : 'AuthorizationErrorException'}`
          : `StepFunctions.${kms ? 'KMSAccessDeniedException' : 'AccessDeniedException'}`;
        throw new StatesError(name, error.message);
      }
      throw error;
    }
  }

  private async callService(
    resource: string,
    state: Record<string, unknown>,
    input: unknown,
    execution: Execution,
    caller: Caller,
  ): Promise<unknown> {
    const service = /^arn:aws:states:::([a-z]+):([A-Za-z]+)(\.sync(?::2)?|\.waitForTaskToken)?$/.exec(resource);
    if (!service) return this.lambda.invoke(resource, input, caller);
    const [, api, action, pattern] = service;
    const params = input as Record<string, unknown>;
    if (api === 'lambda' && action === 'invoke') {
      if (pattern === '.waitForTaskToken') return this.waitForTaskToken(state, params, execution, caller);
      return { StatusCode: 200, Payload: await this.lambda.invoke(String(params.FunctionName), params.Payload, caller) };
    }
    if (api === 'states' && action === 'startExecution') {
      const childArn = String(params.StateMachineArn);
      const childMachine = this.machines.get(childArn);
      await this.options.authorizer.authorize(caller, { action: 'states:StartExecution', resource: childArn });
      if (pattern && childMachine) {
        // .sync watches the child through a managed EventBridge rule and may stop it.
        const childExecution = `${childArn.replace(':stateMachine:', ':execution:')}:${String(params.Name ?? '')}`;
        await this.options.authorizer.authorize(
          caller,
          { action: 'states:DescribeExecution', resource: childExecution },
          { action: 'states:StopExecution', resource: childExecution },
          ...['events:PutTargets', 'events:PutRule', 'events:DescribeRule'].map((a) => ({ action: a, resource: SYNC_EVENTS_RULE })),
        );
      }
      const child = this.startExecution(
        childArn,
        typeof params.Input === 'string' ? params.Input : JSON.stringify(params.Input ?? {}),
        params.Name ? String(params.Name) : undefined,
      );
      const started = { ExecutionArn: child.executionArn, StartDate: child.startDate.toISOString() };
      if (!pattern) return started;
      await child.done;
      if (child.status !== 'SUCCEEDED')
        throw new StatesError(
          'States.TaskFailed',
          JSON.stringify({ ExecutionArn: child.executionArn, Status: child.status, Error: child.error, Cause: child.cause }),
        );
      return {
        ...started,
        Name: child.name,
        Status: child.status,
        StopDate: child.stopDate?.toISOString(),
        Output: pattern === '.sync:2' ? JSON.parse(child.output ?? 'null') : child.output,
      };
    }
    if (api === 'sns' && action === 'publish') {
      const messageId = await this.options.sns.publish(
        caller,
        String(params.TopicArn),
        typeof params.Message === 'string' ? params.Message : JSON.stringify(params.Message),
        params.Subject ? String(params.Subject) : undefined,
      );
      return { MessageId: messageId };
    }
    throw new StatesError('States.Runtime', `local mode cannot run Task resource ${resource}`);
  }

  private waitForTaskToken(
    state: Record<string, unknown>,
    params: Record<string, unknown>,
    execution: Execution,
    caller: Caller,
  ): Promise<unknown> {
    const token = `local-${randomUUID()}`;
    this.tokenMachines.set(token, execution.stateMachineArn);
    const payload = JSON.parse(
      JSON.stringify(params.Payload ?? {})
        .split(TOKEN_PLACEHOLDER)
        .join(token),
    );
    const heartbeatMs = Number(state.HeartbeatSeconds ?? 0) * 1000;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(token);
      };
      const arm = () => {
        clearTimeout(timer);
        if (heartbeatMs > 0) {
          timer = setTimeout(() => {
            finish();
            reject(new StatesError('States.HeartbeatTimeout', `no heartbeat for ${heartbeatMs / 1000} s`));
          }, heartbeatMs);
        }
      };
      this.waiters.set(token, {
        resolve: (output) => {
          finish();
          resolve(output);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
        heartbeat: arm,
      });
      arm();
      this.lambda.invoke(String(params.FunctionName), payload, caller).catch((error: Error) => {
        const waiter = this.waiters.get(token);
        waiter?.reject(error);
      });
    });
  }
}
