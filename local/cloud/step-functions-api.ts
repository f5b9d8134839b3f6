import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Execution, LocalStepFunctions } from './local-step-functions';

/**
 * The Step Functions API (AWS JSON 1.0 protocol) over LocalStepFunctions, so that
 * `@aws-sdk/client-sfn` with AWS_ENDPOINT_URL_SFN works against local mode unchanged.
 */
export async function startStepFunctionsApi(sfn: LocalStepFunctions, port: number, host = '127.0.0.1'): Promise<Server> {
  const describe = (e: Execution) => ({
    executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status,
    startDate: e.startDate.getTime() / 1000, stopDate: e.stopDate ? e.stopDate.getTime() / 1000 : undefined,
    input: e.input, output: e.output, error: e.error, cause: e.cause,
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
      executions: [...sfn.executions.values()].filter((e) => e.stateMachineArn === b.stateMachineArn).map((e) => {
        const { executionArn, stateMachineArn, name, status, startDate, stopDate } = describe(e);
        return { executionArn, stateMachineArn, name, status, startDate, stopDate };
      }),
    }),
    SendTaskSuccess: (b) => (sfn.sendTaskSuccess(b.taskToken ?? '', b.output ?? 'null'), {}),
    SendTaskFailure: (b) => (sfn.sendTaskFailure(b.taskToken ?? '', b.error, b.cause), {}),
    SendTaskHeartbeat: (b) => (sfn.sendTaskHeartbeat(b.taskToken ?? ''), {}),
  };
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AWSStepFunctions\./, '');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(body));
    };
    const handler = actions[action];
    if (!handler) return reply(400, { __type: 'UnknownOperationException', message: `local Step Functions does not implement ${action || '(no x-amz-target)'}` });
    try {
      reply(200, await handler(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')));
    } catch (error) {
      const e = error as Error;
      reply(400, { __type: e.name, message: e.message });
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

/**
 * One local history event in the shape of GetExecutionHistory's: only a state's entry
 * (`…StateEntered`) carries stateEnteredEventDetails and only its exit stateExitedEventDetails, as
 * in Step Functions; the runner's other per-state events (a Fail state's `FailStateFailed`, a
 * retry, a catch) carry no state details, so no reader counts a state twice.
 */
export function historyEvent(h: Execution['history'][number]) {
  const details = h.type.endsWith('StateEntered') ? 'stateEnteredEventDetails' : h.type.endsWith('StateExited') ? 'stateExitedEventDetails' : undefined;
  return {
    id: h.id, previousEventId: h.id - 1, timestamp: h.timestamp.getTime() / 1000, type: h.type,
    ...(h.stateName && details ? { [details]: { name: h.stateName } } : {}),
    ...(h.error ? { executionFailedEventDetails: { error: h.error, cause: h.cause } } : {}),
  };
}
