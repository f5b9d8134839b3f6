import { appendFileSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { type LocalCloudConfig } from './local-cloud-config';
import { LOCAL_REGION, readLocalDeployment } from './local-deployment';
import { LocalGateway } from './local-gateway';
import { LocalLambda } from './local-lambda';
import { LocalStepFunctions } from './local-step-functions';
import { startStepFunctionsApi } from './step-functions-api';
import type { CfnTemplate } from './synthesize-template';

export interface LocalCloud {
  sfn: LocalStepFunctions;
  gateway: LocalGateway;
  stop(): Promise<void>;
}

/** The cloud side on this machine: the stack's functions, state machines and WebSocket API. */
export async function startLocalCloud(config: LocalCloudConfig): Promise<LocalCloud> {
  const deployment = readLocalDeployment(JSON.parse(readFileSync(config.templateFile, 'utf8')) as CfnTemplate);
  const sfnEndpoint = `http://127.0.0.1:${config.stepFunctionsPort}`;
  const lambda = new LocalLambda(deployment, {
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: config.s3AccessKeyId,
    AWS_SECRET_ACCESS_KEY: config.s3SecretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: config.dynamodbEndpoint,
    AWS_ENDPOINT_URL_S3: config.s3Endpoint,
    AWS_ENDPOINT_URL_SFN: sfnEndpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    S3_FORCE_PATH_STYLE: '1',
    CONNECTIONS_ENDPOINT: `http://127.0.0.1:${config.gatewayPort}/prod`,
    UPLOAD_CREDENTIALS_MODE: 'static',
    LOCAL_S3_ACCESS_KEY_ID: config.s3AccessKeyId,
    LOCAL_S3_SECRET_ACCESS_KEY: config.s3SecretAccessKey,
    CONNECTOR_S3_ENDPOINT: config.s3Endpoint,
  });
  const sfn = new LocalStepFunctions(deployment, lambda, {
    publish: (alert) => appendFileSync(config.alertsFile, JSON.stringify({ at: new Date().toISOString(), ...alert }) + '\n'),
  });
  const api: Server = await startStepFunctionsApi(sfn, config.stepFunctionsPort);
  const routes = deployment.webSocket.routes;
  const gateway = new LocalGateway(lambda, {
    port: config.gatewayPort, idleTimeoutMs: config.idleTimeoutMs, maxConnectionMs: config.maxConnectionMs,
    routes: { authorizer: deployment.webSocket.authorizer, connect: routes.$connect ?? '', disconnect: routes.$disconnect ?? '', default: routes.$default ?? '' },
  });
  await gateway.start();
  return {
    sfn, gateway,
    stop: async () => {
      await gateway.stop();
      const closing = new Promise<void>((resolve) => api.close(() => resolve()));
      api.closeAllConnections();
      await closing;
    },
  };
}
