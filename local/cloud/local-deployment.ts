import type { HandlerName } from '../../functions/src/handler-names';
import { HANDLER_NAMES } from '../../functions/src/handler-names';
import { LOCAL_ACCOUNT, LOCAL_API_ID, LOCAL_BUCKET, LOCAL_REGION, TemplateResolver } from './resolve-template';
import type { CfnTemplate } from './synthesize-template';

export { LOCAL_ACCOUNT, LOCAL_API_ID, LOCAL_BUCKET, LOCAL_REGION } from './resolve-template';

export interface LocalTable {
  name: string;
  properties: Record<string, unknown>;
}

export interface LocalFunction {
  /** The logical id, which is also the function's name locally. */
  name: string;
  arn: string;
  handler: HandlerName;
  /** The execution role the function runs with. */
  roleArn: string;
  /** The template's environment variables (resolved to local names). */
  environment: Record<string, string>;
  /** Lambda's `Handler` (file.export inside the bundle), e.g. `index.handler`. */
  entry: string;
  /** e.g. `nodejs24.x` */
  runtime: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** The bundle's folder inside the cloud assembly (`aws:asset:path`), when synthesized with bundling. */
  assetPath?: string;
}

export interface LocalStateMachine {
  name: string;
  arn: string;
  roleArn: string;
  definition: Record<string, unknown>;
}

/** An EventBridge Scheduler schedule: what it invokes, as whom, with what input. */
export interface LocalSchedule {
  name: string;
  arn: string;
  expression: string;
  timeZone?: string;
  targetArn: string;
  roleArn: string;
  input?: string;
}

/** A CloudWatch alarm on one metric, with the topics its ALARM state notifies. */
export interface LocalAlarm {
  name: string;
  arn: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic: string;
  periodSeconds: number;
  threshold: number;
  comparison: string;
  description?: string;
  alarmActions: string[];
}

/**
 * The synthesized template read as a local deployment: every intrinsic function resolved to
 * a local name, so tables, the bucket, functions, state machines, schedules and alarms are
 * exactly the stack's.
 */
export interface LocalDeployment {
  tables: LocalTable[];
  bucket: { name: string; properties: Record<string, unknown> };
  functions: LocalFunction[];
  stateMachines: LocalStateMachine[];
  schedules: LocalSchedule[];
  alarms: LocalAlarm[];
  /**
   * The WebSocket API: route key → function ARN (Lambda proxy routes), the routes API Gateway
   * answers itself (MOCK integrations), the route selection expression, the $connect authorizer's
   * function ARN and id, the stage, and the stage's throttle (its default route settings).
   */
  webSocket: {
    routes: Record<string, string>;
    mockRoutes: string[];
    routeSelectionExpression: string;
    authorizer: string;
    authorizerId: string;
    apiId: string;
    stage: string;
    callbackUrl: string;
    throttle?: { rateLimit: number; burstLimit: number };
  };
}

const HANDLER_KEY = 'so-backup:handler';

export function readLocalDeployment(template: CfnTemplate): LocalDeployment {
  const t = new TemplateResolver(template);
  const bucket = t.ofType('AWS::S3::Bucket')[0];
  if (!bucket) throw new Error('the template has no S3 bucket');
  const functionInUri = (uri: unknown) => /functions\/(arn:aws:lambda:[^/]+)\/invocations/.exec(String(uri))?.[1] ?? '';
  const routes: Record<string, string> = {};
  const mockRoutes: string[] = [];
  for (const route of t.ofType('AWS::ApiGatewayV2::Route')) {
    const integrationId = String(route.properties.Target).replace(/^integrations\//, '');
    const integration = t.resource(integrationId).properties;
    if (integration.IntegrationType === 'MOCK') mockRoutes.push(String(route.properties.RouteKey));
    else routes[String(route.properties.RouteKey)] = functionInUri(integration.IntegrationUri);
  }
  const authorizer = t.ofType('AWS::ApiGatewayV2::Authorizer')[0];
  const api = t.ofType('AWS::ApiGatewayV2::Api')[0];
  const stage = t.ofType('AWS::ApiGatewayV2::Stage')[0];
  const stageName = String(stage?.properties.StageName ?? 'prod');
  const stageSettings = stage?.properties.DefaultRouteSettings as
    | { ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number }
    | undefined;
  return {
    webSocket: {
      routes,
      mockRoutes,
      routeSelectionExpression: String(api?.properties.RouteSelectionExpression ?? '$request.body.action'),
      authorizer: authorizer ? functionInUri(authorizer.properties.AuthorizerUri) : '',
      authorizerId: authorizer?.id ?? '',
      apiId: LOCAL_API_ID,
      stage: stageName,
      callbackUrl: `https://${LOCAL_API_ID}.execute-api.${LOCAL_REGION}.amazonaws.com/${stageName}`,
      ...(stageSettings?.ThrottlingRateLimit !== undefined && stageSettings.ThrottlingBurstLimit !== undefined
        ? { throttle: { rateLimit: stageSettings.ThrottlingRateLimit, burstLimit: stageSettings.ThrottlingBurstLimit } }
        : {}),
    },
    tables: t.ofType('AWS::DynamoDB::Table').map((r) => ({ name: t.ref(r.id), properties: r.properties })),
    bucket: { name: LOCAL_BUCKET, properties: bucket.properties },
    functions: t
      .ofType('AWS::Lambda::Function')
      .filter((r) => handlerOf(r.metadata))
      .map((r) => ({
        name: r.id,
        arn: t.attribute(r.id, 'Arn'),
        handler: handlerOf(r.metadata)!,
        roleArn: String(r.properties.Role),
        environment: ((r.properties.Environment ?? {}) as { Variables?: Record<string, string> }).Variables ?? {},
        entry: String(r.properties.Handler ?? 'index.handler'),
        runtime: String(r.properties.Runtime ?? ''),
        timeoutSeconds: Number(r.properties.Timeout ?? 3),
        memoryMb: Number(r.properties.MemorySize ?? 128),
        ...(typeof r.metadata['aws:asset:path'] === 'string' ? { assetPath: r.metadata['aws:asset:path'] } : {}),
      })),
    stateMachines: t.ofType('AWS::StepFunctions::StateMachine').map((r) => ({
      name: t.stateMachineName(r.id),
      arn: t.ref(r.id),
      roleArn: String(r.properties.RoleArn),
      definition: JSON.parse(String(r.properties.DefinitionString)) as Record<string, unknown>,
    })),
    schedules: t.ofType('AWS::Scheduler::Schedule').map((r) => {
      const target = r.properties.Target as { Arn: string; RoleArn: string; Input?: string };
      return {
        name: r.id,
        arn: t.attribute(r.id, 'Arn'),
        expression: String(r.properties.ScheduleExpression),
        ...(r.properties.ScheduleExpressionTimezone ? { timeZone: String(r.properties.ScheduleExpressionTimezone) } : {}),
        targetArn: target.Arn,
        roleArn: target.RoleArn,
        ...(target.Input !== undefined ? { input: target.Input } : {}),
      };
    }),
    alarms: t.ofType('AWS::CloudWatch::Alarm').map((r) => {
      const p = r.properties as {
        Namespace: string;
        MetricName: string;
        Dimensions?: Array<{ Name: string; Value: string }>;
        Statistic?: string;
        Period: number;
        Threshold: number;
        ComparisonOperator: string;
        AlarmDescription?: string;
        AlarmActions?: string[];
      };
      return {
        name: r.id,
        arn: t.attribute(r.id, 'Arn'),
        namespace: p.Namespace,
        metricName: p.MetricName,
        dimensions: Object.fromEntries((p.Dimensions ?? []).map((d) => [d.Name, d.Value])),
        statistic: p.Statistic ?? 'Maximum',
        periodSeconds: Number(p.Period),
        threshold: Number(p.Threshold),
        comparison: p.ComparisonOperator,
        ...(p.AlarmDescription ? { description: p.AlarmDescription } : {}),
        alarmActions: p.AlarmActions ?? [],
      };
    }),
  };
}

/** The function ARN of a logical id in the local account. */
export function localFunctionArn(logicalId: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`;
}

function handlerOf(metadata: Record<string, unknown>): HandlerName | undefined {
  const name = metadata[HANDLER_KEY];
  return (HANDLER_NAMES as readonly unknown[]).includes(name) ? (name as HandlerName) : undefined;
}
