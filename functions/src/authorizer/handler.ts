import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { awsClients, header, logger, readEnvironment, tableEnvironmentSchema, TenantStore } from '../shared';
import { authorizeConnector } from './authorize-connector';

const env = readEnvironment(tableEnvironmentSchema);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);

/** $connect authorizer: allows a connector whose credential matches an enabled tenant. */
export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const decision = await authorizeConnector(tenants, header(event, 'Authorization'));
  logger.info({ tenantId: decision.tenantId, allowed: decision.allowed, reason: decision.reason }, 'connector authorization');
  return {
    principalId: decision.tenantId ?? 'unknown',
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: decision.allowed ? 'Allow' : 'Deny', Resource: event.methodArn }] },
    context: decision.allowed ? { tenantId: decision.tenantId } : {},
  };
}
