import type { Execution, LocalStepFunctions } from './local-step-functions';

/** An answer of the Step Functions API (AWS JSON 1.0): status and body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/**
 * The Step Functions API over LocalStepFunctions, as the front door serves it after authorizing
 * the call, so that `@aws-sdk/client-sfn` with AWS_ENDPOINT_URL_SFN works against local mode
 * unchanged. Errors come back as Step Functions' `{ __type, message }`.
 */
export function stepFunctionsApi(
  sfn: LocalStepFunctions,
): (action: string, body: Record<string, string | undefined>) => Promise<ApiAnswer> {
  const describe = (e: Execution) => ({
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: e.startDate.getTime() / 1000,
    stopDate: e.stopDate ? e.stopDate.getTime() / 1000 : undefined,
    input: e.input,
    output: e.output,
    error: e.error,
    cause: e.cause,
  });
  const actions: Record<string, (body: Record<string, string | undefined>) => unknown> = {
    StopExecution: async (b) => ({ stopDate: (await sfn.stopExecution(b.executionArn ?? '', b.error, b.cause)).getTime() / 1000 }),
    StartExecution: (b) => {
      const e = sfn.startExecution(b.stateMachineArn ?? '', b.input, b.name);
      return { executionArn: e.executionArn, startDate: e.startDate.getTime() / 1000 };
    },
    DescribeExecution: (b) => describe(sfn.describe(b.executionArn ?? '')),
    GetExecutionHistory: (b) => ({
      events: sfn.describe(b.executionArn ?? '').history.map(historyEvent),
    }),
    ListExecutions: (b) => ({
      executions: [...sfn.executions.values()]
        .filter((e) => e.stateMachineArn === b.stateMachineArn)
        .map((e) => {
          const { executionArn, stateMachineArn, name, status, startDate, stopDate } = describe(e);
          return { executionArn, stateMachineArn, name, status, startDate, stopDate };
        }),
    }),
    SendTaskSuccess: (b) => {
      sfn.sendTaskSuccess(b.taskToken ?? '', b.output ?? 'null');
      return {};
    },
    SendTaskFailure: (b) => {
      sfn.sendTaskFailure(b.taskToken ?? '', b.error, b.cause);
      return {};
    },
    SendTaskHeartbeat: (b) => {
      sfn.sendTaskHeartbeat(b.taskToken ?? '');
      return {};
    },
  };
  return async (action, body) => {
    const handler = actions[action];
    if (!handler)
      return {
        status: 400,
        body: { __type: 'UnknownOperationException', message: `local Step Functions does not implement ${action || '(no x-amz-target)'}` },
      };
    try {
      return { status: 200, body: await handler(body) };
    } catch (error) {
      const e = error as Error;
      return { status: 400, body: { __type: e.name, message: e.message } };
    }
  };
}

/**
 * One local history event in the shape of GetExecutionHistory's: only a state's entry
 * (`…StateEntered`) carries stateEnteredEventDetails and only its exit stateExitedEventDetails, as
 * in Step Functions; the runner's other per-state events (a Fail state's `FailStateFailed`, a
 * retry, a catch) carry no state details, so no reader counts a state twice.
 */
export function historyEvent(h: Execution['history'][number]) {
  const details = h.type.endsWith('StateEntered')
    ? 'stateEnteredEventDetails'
    : h.type.endsWith('StateExited')
      ? 'stateExitedEventDetails'
      : undefined;
  return {
    id: h.id,
    previousEventId: h.id - 1,
    timestamp: h.timestamp.getTime() / 1000,
    type: h.type,
    ...(h.stateName && details ? { [details]: { name: h.stateName } } : {}),
    ...(h.error ? { executionFailedEventDetails: { error: h.error, cause: h.cause } } : {}),
  };
}
