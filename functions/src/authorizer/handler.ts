import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { defineHandler, tableStores } from '../handler';
import { header, tableEnvironmentSchema } from '../shared';
import { authorizeConnector } from './authorize-connector';
import { CONNECTION_PURPOSE_HEADER, connectionPurposeSchema } from '../../../protocol';

/** $connect authorizer: a signed request from an enrolled key, or an enrolment with a one-time code. */
export const handler = defineHandler(
  {
    name: 'authorizer',
    environment: tableEnvironmentSchema,
    setup: tableStores,
    // API Gateway's own request; authorizeConnector checks the one header it reads.
    event: (raw) => raw as APIGatewayRequestAuthorizerEvent,
  },
  async (event, { deps, log }): Promise<APIGatewayAuthorizerResult> => {
    const decision = await authorizeConnector(deps, header(event, 'Authorization'));
    // Not the service's own connection (an enrolment, doctor's probe, a restore's): anything else is the service's.
    const purpose = connectionPurposeSchema.safeParse(header(event, CONNECTION_PURPOSE_HEADER)).data;
    log.info(
      { tenantId: decision.tenantId, keyId: decision.keyId, allowed: decision.allowed, reason: decision.reason },
      'connector authorization',
    );
    return {
      principalId: decision.tenantId ?? 'unknown',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: decision.allowed ? 'Allow' : 'Deny', Resource: event.methodArn }],
      },
      // The purpose goes with the connection to $connect and $disconnect (API Gateway passes this context to both).
      context: decision.allowed ? { tenantId: decision.tenantId, keyId: decision.keyId, ...(purpose ? { purpose } : {}) } : {},
    };
  },
);
