import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';

/** Answers a waiting Step Functions task (waitForTaskToken). */
export interface TaskResponder {
  heartbeat(taskToken: string): Promise<void>;
  succeed(taskToken: string, output: unknown): Promise<void>;
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}

export class SfnTaskResponder implements TaskResponder {
  constructor(private readonly sfn: SFNClient) {}

  async heartbeat(taskToken: string): Promise<void> {
    await this.sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
  }

  async succeed(taskToken: string, output: unknown): Promise<void> {
    await this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    await this.sfn.send(new SendTaskFailureCommand({ taskToken, error: error.slice(0, 256), cause: cause.slice(0, 32_000) }));
  }
}
