import { activeRun, awsErrorKind, executionArnOf, type RunRecord, runExecutionArn } from '../../core';

const run = (runId: string, status: RunRecord['status'], startedAt: string): RunRecord => ({
  runId,
  tenantId: 'acme',
  status,
  trigger: 'schedule',
  requestedBy: 'schedule',
  executionArn: `arn:aws:states:eu-north-1:1:execution:BackupRun:${runId}`,
  startedAt,
});

describe('core run rules', () => {
  test('one run per tenant: a RUNNING record within the run timeout is running; an older one is a crashed run; the run being prepared does not count', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    const recent = [
      run('done', 'SUCCEEDED', '2026-11-25T11:00:00Z'),
      run('crashed', 'RUNNING', '2026-11-24T20:00:00Z'),
      run('going', 'RUNNING', '2026-11-25T02:00:00Z'),
    ];
    expect(activeRun(recent, now, 13 * 3600)?.runId).toBe('going');
    expect(activeRun(recent, now, 13 * 3600, 'going')).toBeUndefined();
    expect(activeRun(recent, now, 9 * 3600)).toBeUndefined();
    expect(activeRun(recent, new Date(now), 24 * 3600)?.runId).toBe('crashed');
  });

  test("a run recorded with its execution's name only resolves to the execution's ARN in the state machine's partition, region and account", () => {
    const machine = 'arn:aws-cn:states:cn-north-1:123456789012:stateMachine:BackupRun';
    expect(executionArnOf(machine, 'acme-2026-11-25-daily')).toBe(
      'arn:aws-cn:states:cn-north-1:123456789012:execution:BackupRun:acme-2026-11-25-daily',
    );
    expect(runExecutionArn({ runId: 'acme-2026-11-25-daily', executionArn: 'acme-2026-11-25-daily' }, machine)).toBe(
      executionArnOf(machine, 'acme-2026-11-25-daily'),
    );
    const recorded = run('acme-2026-11-25-daily', 'FAILED', '2026-11-25T02:00:00Z');
    expect(runExecutionArn(recorded, machine)).toBe(recorded.executionArn);
  });

  test("one reading of AWS errors: by the service's error name, by HTTP status, by the network error", () => {
    const named = (name: string, extra: object = {}) => Object.assign(new Error(`${name} happened`), { name, ...extra });
    expect(awsErrorKind(named('ConditionalCheckFailedException'))).toBe('condition-failed');
    expect(awsErrorKind(named('ExecutionAlreadyExists'))).toBe('execution-exists');
    expect(awsErrorKind(named('ExecutionDoesNotExist'))).toBe('execution-missing');
    expect(awsErrorKind(named('TaskTimedOut'))).toBe('task-gone');
    expect(awsErrorKind(named('GoneException'))).toBe('connection-gone');
    expect(awsErrorKind(named('Whatever', { $metadata: { httpStatusCode: 410 } }))).toBe('connection-gone');
    expect(awsErrorKind(named('AccessDeniedException'))).toBe('denied');
    expect(awsErrorKind(named('Forbidden', { $metadata: { httpStatusCode: 403 } }))).toBe('denied');
    expect(awsErrorKind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('unreachable');
    expect(awsErrorKind(new Error('Could not load credentials from any providers'))).toBe('no-credentials');
    expect(awsErrorKind(named('ThrottlingException'))).toBe('other');
  });
});
