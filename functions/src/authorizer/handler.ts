import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { NonceStore, TenantStore } from '../../../core';
import { awsClients, header, logger, readEnvironment, tableEnvironmentSchema } from '../shared';
import { authorizeConnector } from './authorize-connector';

const env = readEnvironment(tableEnvironmentSchema);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const nonces = new NonceStore(awsClients().dynamo, env.NONCES_TABLE);

/** $connect authorizer: a signed request from an enrolled key, or an enrolment with a one-time code. */
export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const decision = await authorizeConnector({ tenants, nonces }, header(event, 'Authorization'));
  logger.info({ tenantId: decision.tenantId, keyId: decision.keyId, allowed: decision.allowed, reason: decision.reason }, 'connector authorization');
  return {
    principalId: decision.tenantId ?? 'unknown',
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: decision.allowed ? 'Allow' : 'Deny', Resource: event.methodArn }] },
    context: decision.allowed ? { tenantId: decision.tenantId, keyId: decision.keyId } : {},
  };
}
