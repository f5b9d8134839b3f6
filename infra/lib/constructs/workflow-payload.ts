import { JsonPath, TaskInput } from 'aws-cdk-lib/aws-stepfunctions';
import type { PayloadPaths } from '../../../core/workflow';

/**
 * A payload of the workflow contract (core/workflow) as Step Functions parameters: each field a
 * reference path (`"run.$": "$.run"`), the task token where the contract names `$$.Task.Token`.
 */
export function renderPayload(paths: PayloadPaths): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(paths).map(([key, value]) => [key, typeof value === 'string' ? at(value) : renderPayload(value)]),
  );
}

function at(path: string): string {
  if (path === '$') return JsonPath.entirePayload;
  if (path === '$$.Task.Token') return JsonPath.taskToken;
  return JsonPath.stringAt(path);
}

/** A task's payload (LambdaInvoke's `payload`). */
export function taskPayload(paths: PayloadPaths): TaskInput {
  return TaskInput.fromObject(renderPayload(paths));
}
