import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { encodeMessage } from '../../../protocol';
import { defineHandler, tableStores } from '../handler';
import {
  awsClients,
  connectionsClient,
  connectionsEndpointOf,
  parseWebsocketEvent,
  tableEnvironmentSchema,
  websocketBindings,
  websocketEnvironmentSchema,
} from '../shared';
import {
  connectorTarget,
  connectorTargetEnvironmentSchema,
  postToConnection,
  SfnTaskResponder,
  uploadCredentialVendorFromEnv,
} from '../../../core';
import { drillEnvironmentSchema } from '../request-drills/ask-for-drill';
import { handleConnectorMessage } from './handle-connector-message';
import { presenceEnvironmentSchema, presenceSettings } from './presence-environment';

// Read lazily: only credential refreshes need the vendor's settings.
let vendor: ReturnType<typeof uploadCredentialVendorFromEnv> | undefined;

/** $default: every message a connector sends. */
export const handler = defineHandler(
  {
    name: 'message',
    environment: tableEnvironmentSchema
      .extend(connectorTargetEnvironmentSchema.shape)
      .extend(websocketEnvironmentSchema.shape)
      .extend(presenceEnvironmentSchema.shape)
      .extend(drillEnvironmentSchema.shape),
    setup: (env) => ({
      ...tableStores(env),
      presence: presenceSettings(env),
      drills: {
        DRILL_INTERVAL_DAYS: env.DRILL_INTERVAL_DAYS,
        DRILL_SAMPLE_FILES: env.DRILL_SAMPLE_FILES,
        DRILL_DATABASE: env.DRILL_DATABASE,
      },
      target: connectorTarget(env),
      tasks: new SfnTaskResponder(awsClients().sfn),
    }),
    event: parseWebsocketEvent,
    bind: websocketBindings,
  },
  async (event, { env, deps, log }): Promise<APIGatewayProxyResultV2> => {
    const tenantId = event.requestContext.authorizer?.tenantId;
    if (!tenantId) return { statusCode: 403 };
    const connectionId = event.requestContext.connectionId;
    const management = connectionsClient(connectionsEndpointOf(event, env.CONNECTIONS_ENDPOINT));
    const outcome = await handleConnectorMessage(event.body ?? '', {
      ...deps,
      tenantId,
      connectionId,
      mintCredentials: (tenant, runId, access) => {
        vendor ??= uploadCredentialVendorFromEnv(awsClients().sts, process.env);
        return vendor.mint(tenant, runId, access);
      },
      reply: async (message) => {
        // A connector that went away before its answer arrived asks again when it reconnects.
        const delivery = await postToConnection({ management, connections: deps.connections }, connectionId, encodeMessage(message));
        if (delivery === 'gone')
          log.info({ connectionId, type: message.type }, 'the connector went away before the reply; its connection is forgotten');
        return delivery;
      },
    });
    return { statusCode: outcome === 'rejected' ? 400 : 200 };
  },
);
