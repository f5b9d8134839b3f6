import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { IamAuthorizer } from '../iam/iam-authorizer';
import { MANAGED_POLICIES, readIamModel } from '../iam/iam-model';
import { LocalCredentials } from '../iam/local-credentials';
import { AwsFrontDoor } from './aws-front-door';
import { LOCAL_OPERATOR_ARN, localCloudConfigSchema, type LocalCloudConfig } from './local-cloud-config';
import { LocalCloudWatch } from './local-cloudwatch';
import { readLocalDeployment } from './local-deployment';
import { gatewayRoutesFrom, LocalGateway } from './local-gateway';
import { LocalLambda } from './local-lambda';
import { LocalScheduler } from './local-scheduler';
import { LocalSns } from './local-sns';
import { LocalStepFunctions } from './local-step-functions';
import { rgwRoleArn } from './rgw-iam';
import { stepFunctionsApi } from './step-functions-api';
import type { CfnTemplate } from './synthesize-template';
import { ensureLocalTls } from './local-tls';

export interface LocalCloud {
  sfn: LocalStepFunctions;
  gateway: LocalGateway;
  lambda: LocalLambda;
  frontDoor: AwsFrontDoor;
  scheduler: LocalScheduler;
  cloudWatch: LocalCloudWatch;
  authorizer: IamAuthorizer;
  credentials: LocalCredentials;
  /** Every AccessDenied the front door answered (also in logs/access-denied.log). */
  denials: Array<{ service: string; operation: string; principal: string; message: string }>;
  stop(): Promise<void>;
}

/**
 * The cloud side on this machine: the stack's functions (from their bundles, each with its own
 * role), state machines, WebSocket API, schedules, alarms and alerts topic, and the AWS endpoint
 * every call goes through, so that the template's IAM policies decide each one as AWS would.
 * `template` overrides the config's template file (tests that change the stack's policies).
 */
export async function startLocalCloud(input: LocalCloudConfig, template?: CfnTemplate): Promise<LocalCloud> {
  const config = localCloudConfigSchema.parse(input);
  const stack = template ?? (JSON.parse(readFileSync(config.templateFile, 'utf8')) as CfnTemplate);
  const deployment = readLocalDeployment(stack);
  const authorizer = new IamAuthorizer(readIamModel(stack));
  const credentials = new LocalCredentials();
  credentials.addUser(
    {
      kind: 'user',
      arn: LOCAL_OPERATOR_ARN,
      policies: [{ name: 'AdministratorAccess', policy: MANAGED_POLICIES['arn:aws:iam::aws:policy/AdministratorAccess']! }],
    },
    config.operator,
  );
  const tls = ensureLocalTls(config.tlsDir);
  mkdirSync(config.logDir, { recursive: true });
  const logLine = (file: string, entry: object) =>
    appendFileSync(path.join(config.logDir, file), `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
  const awsEndpoint = `https://127.0.0.1:${config.awsPort}`;
  const gatewayEndpoint = `https://127.0.0.1:${config.gatewayTlsPort}/${deployment.webSocket.stage}`;

  const topics = new Set(
    Object.entries(stack.Resources)
      .filter(([, r]) => r.Type === 'AWS::SNS::Topic')
      .map(([id]) => `arn:aws:sns:us-east-1:000000000000:${id}`),
  );
  const sns = new LocalSns(topics, authorizer, (message) =>
    appendFileSync(config.alertsFile, `${JSON.stringify({ at: new Date().toISOString(), ...message })}\n`),
  );
  const cloudWatch = new LocalCloudWatch(deployment.alarms, sns, (item) => logLine('alarm-history.jsonl', item));
  const lambda = new LocalLambda(deployment, {
    assemblyDir: config.assemblyDir,
    authorizer,
    credentials,
    logDir: config.logDir,
    localEnvironment: (fn) => ({
      AWS_ENDPOINT_URL_DYNAMODB: awsEndpoint,
      AWS_ENDPOINT_URL_S3: awsEndpoint,
      AWS_ENDPOINT_URL_SFN: awsEndpoint,
      AWS_ENDPOINT_URL_SNS: awsEndpoint,
      AWS_ENDPOINT_URL_STS: awsEndpoint,
      S3_FORCE_PATH_STYLE: '1',
      NODE_EXTRA_CA_CERTS: tls.caFile,
      // Where connectors reach S3, and the stage's @connections URL where the template names it.
      ...(config.s3 ? { CONNECTOR_S3_ENDPOINT: config.s3.endpoint } : {}),
      ...(fn.environment.CONNECTIONS_ENDPOINT ? { CONNECTIONS_ENDPOINT: gatewayEndpoint } : {}),
    }),
    onOutput: (_fn, line) => cloudWatch.readEmbeddedMetrics(line),
  });
  const sfn = new LocalStepFunctions(deployment, lambda, {
    authorizer,
    sns,
    onExecutionEnd: (e) => cloudWatch.executionEnded(e.stateMachineArn, e.status),
  });
  const denials: LocalCloud['denials'] = [];
  const frontDoor = new AwsFrontDoor({
    port: config.awsPort,
    tls,
    authorizer,
    credentials,
    dynamodbSocket: config.dynamodbSocket,
    sns,
    ...(config.s3
      ? {
          s3: {
            endpoint: config.s3.endpoint,
            ca: tls.ca,
            credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey },
            rgwRoleArn,
          },
        }
      : {}),
    stepFunctions: { api: stepFunctionsApi(sfn), stateMachineOfToken: (token) => sfn.stateMachineOfToken(token) },
    onDenied: (denial) => {
      denials.push(denial);
      logLine('access-denied.log', denial);
    },
  });
  await frontDoor.start();
  const gateway = new LocalGateway(lambda, {
    port: config.gatewayPort,
    idleTimeoutMs: config.idleTimeoutMs,
    maxConnectionMs: config.maxConnectionMs,
    stage: deployment.webSocket.stage,
    tls: { cert: tls.cert, key: tls.key, port: config.gatewayTlsPort },
    apiId: deployment.webSocket.apiId,
    authorizerId: deployment.webSocket.authorizerId,
    access: { authorizer, credentials },
    onError: (what, error) =>
      logLine('gateway-errors.log', { what, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    dropResults: config.dropResults,
    ...gatewayRoutesFrom(deployment.webSocket),
  });
  await gateway.start();
  const scheduler = new LocalScheduler(
    deployment.schedules,
    { lambda, startExecution: (arn, json) => sfn.startExecution(arn, json) },
    authorizer,
    (firing) => logLine('schedules.jsonl', firing),
  );
  if (config.schedules === 'timed') scheduler.start();
  return {
    sfn,
    gateway,
    lambda,
    frontDoor,
    scheduler,
    cloudWatch,
    authorizer,
    credentials,
    denials,
    stop: async () => {
      scheduler.stop();
      await gateway.stop();
      await frontDoor.stop();
      await lambda.stop();
    },
  };
}
