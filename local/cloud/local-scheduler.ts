import { randomUUID } from 'node:crypto';
import type { Caller, IamAuthorizer } from '../iam/iam-authorizer';
import { LOCAL_ACCOUNT, type LocalSchedule } from './local-deployment';
import type { FunctionInvoker } from './local-lambda';
import { nextFireTime, parseScheduleExpression } from './schedule-expression';

/** What a schedule can start: a function (via Lambda), a state machine execution. */
export interface ScheduleTargets {
  lambda: FunctionInvoker;
  startExecution(stateMachineArn: string, input: string): { executionArn: string };
}

/** One firing of a schedule and how it went. */
export interface ScheduleFiring {
  schedule: string;
  at: string;
  ok: boolean;
  detail: string;
}

/**
 * EventBridge Scheduler on this machine, for the stack's schedules: a firing assumes the
 * schedule's role (its trust policy must let scheduler.amazonaws.com in) and calls the target
 * as that role — lambda:InvokeFunction or states:StartExecution, decided by the template's
 * policies like any other call. With `timed`, schedules fire on their own expressions.
 */
export class LocalScheduler {
  readonly firings: ScheduleFiring[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly schedules: LocalSchedule[],
    private readonly targets: ScheduleTargets,
    private readonly authorizer: IamAuthorizer,
    private readonly record: (firing: ScheduleFiring) => void = () => undefined,
  ) {}

  /** Fires one schedule now (by its name, the logical id). @throws Error naming the refusal */
  async fire(name: string): Promise<ScheduleFiring> {
    const schedule = this.schedules.find((s) => s.name === name);
    if (!schedule) throw new Error(`no schedule ${name}; the stack has ${this.schedules.map((s) => s.name).join(', ')}`);
    const firing = await this.run(schedule, new Date());
    if (!firing.ok) throw new Error(firing.detail);
    return firing;
  }

  /** Fires every schedule on its own expression until stop(). */
  start(now = new Date()): void {
    for (const schedule of this.schedules) {
      const expression = parseScheduleExpression(schedule.expression);
      const arm = (after: Date) => {
        const next = nextFireTime(expression, after, schedule.timeZone ?? 'UTC', now);
        const timer = setTimeout(
          () => {
            this.timers.delete(timer);
            void this.run(schedule, next).finally(() => arm(next));
          },
          Math.max(0, next.getTime() - Date.now()),
        );
        timer.unref();
        this.timers.add(timer);
      };
      arm(now);
    }
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /**
   * The target's input with EventBridge Scheduler's context attributes filled in, as Scheduler does
   * ("Adding context attributes to your target", EventBridge Scheduler User Guide):
   * `<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>` (e.g. 2022-03-22T18:59:43Z),
   * `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>`.
   */
  static targetInput(input: string, schedule: Pick<LocalSchedule, 'arn'>, scheduledTime: Date): string {
    const attributes: Record<string, string> = {
      'schedule-arn': schedule.arn,
      'scheduled-time': scheduledTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'execution-id': randomUUID(),
      'attempt-number': '1',
    };
    return input.replace(/<aws\.scheduler\.([a-z-]+)>/g, (whole, name: string) => attributes[name] ?? whole);
  }

  private async run(schedule: LocalSchedule, scheduledTime: Date): Promise<ScheduleFiring> {
    const done = (ok: boolean, detail: string) => {
      const firing = { schedule: schedule.name, at: new Date().toISOString(), ok, detail };
      this.firings.push(firing);
      this.record(firing);
      return firing;
    };
    const trust = await this.authorizer.decide(
      { kind: 'service', service: 'scheduler.amazonaws.com', sourceArn: schedule.arn, sourceAccount: LOCAL_ACCOUNT },
      { action: 'sts:AssumeRole', resource: schedule.roleArn },
    );
    if (!trust.allowed) return done(false, `the schedule's role cannot be assumed by EventBridge Scheduler: ${trust.message}`);
    const caller: Caller = { kind: 'role', roleArn: schedule.roleArn, sessionName: schedule.name.slice(0, 64) };
    const input = LocalScheduler.targetInput(schedule.input ?? '{}', schedule, scheduledTime);
    try {
      if (schedule.targetArn.includes(':lambda:')) {
        await this.targets.lambda.invoke(schedule.targetArn, JSON.parse(input), caller);
        return done(true, `invoked ${schedule.targetArn}`);
      }
      if (schedule.targetArn.includes(':states:')) {
        const decision = await this.authorizer.decide(caller, { action: 'states:StartExecution', resource: schedule.targetArn });
        if (!decision.allowed) return done(false, decision.message);
        return done(true, `started ${this.targets.startExecution(schedule.targetArn, input).executionArn}`);
      }
      return done(false, `local mode cannot run a schedule targeting ${schedule.targetArn}`);
    } catch (error) {
      return done(false, `${(error as Error).name}: ${(error as Error).message}`);
    }
  }
}
