import type { HandlerName } from '../../functions/src/handler-names';
import { HANDLER_NAMES } from '../../functions/src/handler-names';
import type { CfnResource, CfnTemplate } from './synthesize-template';

/** Fixed names of the local "account". */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_BUCKET = 'so-backup-local';

export interface LocalTable {
  name: string;
  properties: Record<string, unknown>;
}

export interface LocalFunction {
  arn: string;
  handler: HandlerName;
  environment: Record<string, string>;
}

export interface LocalStateMachine {
  name: string;
  arn: string;
  definition: Record<string, unknown>;
}

/**
 * The synthesized template read as a local deployment: every intrinsic function resolved to
 * a local name, so tables, the bucket, functions and state machines are exactly the stack's.
 */
export interface LocalDeployment {
  tables: LocalTable[];
  bucket: { name: string; properties: Record<string, unknown> };
  functions: LocalFunction[];
  stateMachines: LocalStateMachine[];
  /** The WebSocket API: route key → function ARN, and the $connect authorizer's function ARN. */
  webSocket: { routes: Record<string, string>; authorizer: string };
}

const HANDLER_KEY = 'so-backup:handler';
const STATE_MACHINE_KEY = 'so-backup:state-machine';

export function readLocalDeployment(template: CfnTemplate): LocalDeployment {
  const resources = template.Resources;
  const machineName = (id: string) => String(resources[id]?.Metadata?.[STATE_MACHINE_KEY] ?? id);
  const refs = (id: string): string => {
    const resource = resources[id];
    switch (resource?.Type) {
      case 'AWS::DynamoDB::Table': return `so-backup-${id}`;
      case 'AWS::S3::Bucket': return LOCAL_BUCKET;
      case 'AWS::StepFunctions::StateMachine': return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${machineName(id)}`;
      case 'AWS::SNS::Topic': return `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${id}`;
      case 'AWS::Lambda::Function': return id;
      default: return `local-${id}`;
    }
  };
  const attribute = (id: string, name: string): string => {
    const resource = resources[id];
    if (resource?.Type === 'AWS::Lambda::Function' && name === 'Arn') return functionArn(id);
    if (resource?.Type === 'AWS::IAM::Role' && name === 'Arn') return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${id}`;
    return `local-${id}-${name}`;
  };
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length === 1) {
      const [key] = keys;
      const arg = object[key!];
      if (key === 'Ref') {
        const name = String(arg);
        if (name === 'AWS::Partition') return 'aws';
        if (name === 'AWS::Region') return LOCAL_REGION;
        if (name === 'AWS::AccountId') return LOCAL_ACCOUNT;
        if (name === 'AWS::URLSuffix') return 'amazonaws.com';
        return refs(name);
      }
      if (key === 'Fn::GetAtt') {
        const [id, name] = arg as [string, string];
        return attribute(id, name);
      }
      if (key === 'Fn::Join') {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolve(parts) as unknown[]).join(separator);
      }
    }
    return Object.fromEntries(keys.map((k) => [k, resolve(object[k])]));
  };

  const entries = Object.entries(resources);
  const ofType = (type: string) => entries.filter(([, r]) => r.Type === type);
  const bucketEntry = ofType('AWS::S3::Bucket')[0];
  if (!bucketEntry) throw new Error('the template has no S3 bucket');
  const functionInUri = (uri: unknown) => /functions\/(arn:aws:lambda:[^/]+)\/invocations/.exec(String(resolve(uri)))?.[1] ?? '';
  const routes: Record<string, string> = {};
  for (const [, route] of ofType('AWS::ApiGatewayV2::Route')) {
    const integrationId = String(resolve(route.Properties?.Target)).replace(/^integrations\/local-/, '');
    routes[String(route.Properties?.RouteKey)] = functionInUri(resources[integrationId]?.Properties?.IntegrationUri);
  }
  const authorizerEntry = ofType('AWS::ApiGatewayV2::Authorizer')[0];
  return {
    webSocket: { routes, authorizer: authorizerEntry ? functionInUri(authorizerEntry[1].Properties?.AuthorizerUri) : '' },
    tables: ofType('AWS::DynamoDB::Table').map(([id, r]) => ({ name: refs(id), properties: resolve(r.Properties ?? {}) as Record<string, unknown> })),
    bucket: { name: LOCAL_BUCKET, properties: resolve(bucketEntry[1].Properties ?? {}) as Record<string, unknown> },
    functions: ofType('AWS::Lambda::Function').filter(([, r]) => handlerOf(r)).map(([id, r]) => ({
      arn: functionArn(id),
      handler: handlerOf(r)!,
      environment: ((resolve(r.Properties?.Environment ?? {}) as { Variables?: Record<string, string> }).Variables) ?? {},
    })),
    stateMachines: ofType('AWS::StepFunctions::StateMachine').map(([id, r]) => ({
      name: machineName(id),
      arn: refs(id),
      definition: JSON.parse(String(resolve(r.Properties?.DefinitionString))) as Record<string, unknown>,
    })),
  };
}

function functionArn(logicalId: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`;
}

function handlerOf(resource: CfnResource): HandlerName | undefined {
  const name = resource.Metadata?.[HANDLER_KEY];
  return (HANDLER_NAMES as readonly unknown[]).includes(name) ? (name as HandlerName) : undefined;
}
