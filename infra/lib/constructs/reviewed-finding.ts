import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Records that a cdk-nag AwsSolutions finding on `scope` (or below it) was reviewed and is
 * accepted, with the reason: the test suite fails on every finding that has none.
 */
export function acceptFinding(scope: IConstruct, finding: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${finding}`, reason });
}

/** How cdk-nag names a resource's ARN in a finding: "<LogicalId.Arn>". */
export function arnInFinding(resource: IConstruct): string {
  return `<${Stack.of(resource).getLogicalId(resource.node.defaultChild as CfnElement)}.Arn>`;
}

/** What every state machine's role is granted by CDK for logging, tracing and invoking its functions. */
export function acceptStateMachineRole(stateMachine: IConstruct, invokedFunctions: IConstruct[]): void {
  acceptFinding(
    stateMachine,
    'AwsSolutions-IAM5[Resource::*]',
    'X-Ray trace segments and CloudWatch Logs log delivery support no resource-level permissions; these are the only actions granted on "*".',
  );
  for (const fn of invokedFunctions) {
    acceptFinding(
      stateMachine,
      `AwsSolutions-IAM5[Resource::${arnInFinding(fn)}:*]`,
      'Invoking the versions and aliases of this one function.',
    );
  }
}

/** A grant to encrypt with a KMS key: CDK grants the kms:GenerateDataKey* family on that key only. */
export function acceptKeyUse(grantee: IConstruct, reason: string): void {
  acceptFinding(grantee, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason);
}
