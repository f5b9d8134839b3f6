import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, type CfnFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import path from 'node:path';
import type { HandlerName } from '../../../functions/src/handler-names';
import { acceptFinding } from './reviewed-finding';

/** Metadata key that names a function's handler; local mode uses it to run the same code. */
export const HANDLER_METADATA_KEY = 'so-backup:handler';

export interface BackupFunctionProps {
  /** The folder under functions/src whose handler.ts this function runs. */
  readonly handler: HandlerName;
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 (MB) */
  readonly memorySize?: number;
}

/** Invokes the function every hour (EventBridge Scheduler, retried), with a role that may only invoke it. */
export function invokeHourly(scope: Construct, fn: BackupFunction, description: string): CfnSchedule {
  const role = new Role(scope, 'SchedulerRole', { assumedBy: new ServicePrincipal('scheduler.amazonaws.com') });
  role.addToPolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
  return new CfnSchedule(scope, 'HourlyCheck', {
    description,
    scheduleExpression: 'rate(1 hour)',
    flexibleTimeWindow: { mode: 'OFF' },
    target: { arn: fn.functionArn, roleArn: role.roleArn, retryPolicy: { maximumRetryAttempts: 3 } },
  });
}

/** A Lambda function for one of our handlers: Node.js 24, arm64, bundled with the local esbuild. */
export class BackupFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: BackupFunctionProps) {
    const root = path.join(__dirname, '..', '..', '..');
    super(scope, id, {
      entry: path.join(root, 'functions', 'src', props.handler, 'handler.ts'),
      handler: 'handler',
      projectRoot: root,
      depsLockFilePath: path.join(root, 'package-lock.json'),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      logGroup: new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY }),
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node24',
        forceDockerBundling: false,
        externalModules: [],
        logLevel: LogLevel.ERROR,
      },
    });
    (this.node.defaultChild as CfnFunction).addMetadata(HANDLER_METADATA_KEY, props.handler);
    acceptFinding(
      this,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AWSLambdaBasicExecutionRole grants only CloudWatch Logs writes, which every function needs for its own log group; everything else is granted per function.',
    );
  }
}
