import { type CfnElement, Stack } from 'aws-cdk-lib';
import { WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration, WebSocketMockIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct } from 'constructs';
import { acceptFinding } from './reviewed-finding';
import { BackupFunction } from './backup-function';
import { validateRange } from './validate-props';
import type { BackupTables } from './backup-tables';

export interface ConnectorApiProps {
  readonly tables: BackupTables;
  /** @default 'prod' */
  readonly stageName?: string;
  /**
   * The stage's throttle, shared by every connector: steady messages per second and the burst
   * (API Gateway's token bucket). The connectors' message budget (protocol/message-budget.ts)
   * keeps a fleet of 10,000 well inside the default.
   * @default { rateLimit: 50, burstLimit: 100 }
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/** Messages are routed on their protocol `type`; `heartbeat` goes to a MOCK integration, any other to $default. */
export const ROUTE_SELECTION_EXPRESSION = '$request.body.type';
/** The route key of heartbeats: answered by API Gateway itself (MOCK), no Lambda invocation. */
export const HEARTBEAT_ROUTE_KEY = 'heartbeat';

/** Header that carries the connector's credential on $connect. */
export const CONNECTOR_AUTH_HEADER = 'Authorization';

/**
 * The WebSocket API connectors dial out to: a REQUEST authorizer on $connect, a connection
 * registry on $connect/$disconnect, a `heartbeat` route that API Gateway answers itself (MOCK
 * integration: the message keeps the connection inside the 10-minute idle limit and costs no Lambda
 * call), and $default for every other message a connector sends.
 */
export class ConnectorApi extends Construct {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly messageFunction: BackupFunction;

  constructor(scope: Construct, id: string, props: ConnectorApiProps) {
    super(scope, id);
    const { tables } = props;
    const environment = tables.environment();
    const authorizerFn = new BackupFunction(this, 'Authorizer', { handler: 'authorizer', environment });
    // Enrolment and key rotation update the tenant's keys (GetItem, conditional UpdateItem: nothing
    // else of the table); every signature spends a nonce.
    tables.tenants.grant(authorizerFn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    tables.nonces.grant(authorizerFn, 'dynamodb:PutItem'); // a conditional put spends it
    const connectFn = new BackupFunction(this, 'Connect', { handler: 'connect', environment });
    const disconnectFn = new BackupFunction(this, 'Disconnect', { handler: 'disconnect', environment });
    // $connect records the connection, and closes the open sessions of keys the tenant no longer has
    // (re-enrolment, rotation): the tenant's keys and its connections (the by-tenant index).
    tables.connections.grant(connectFn, 'dynamodb:PutItem', 'dynamodb:Query');
    tables.tenants.grant(connectFn, 'dynamodb:GetItem');
    tables.connections.grant(disconnectFn, 'dynamodb:DeleteItem');
    tables.tenants.grant(disconnectFn, 'dynamodb:UpdateItem'); // notes when the connector went away
    this.messageFunction = new BackupFunction(this, 'Message', { handler: 'message', environment });
    // Results, restores and credential refreshes read and update runs (and list the tenant's runs:
    // also a settings request, for a run waiting for its connector); drill results, drills asked for
    // at a check-in and key rotation update the tenant.
    tables.runs.grant(this.messageFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    tables.tenants.grant(this.messageFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    // A reply to a connection API Gateway reports gone forgets it (core's postToConnection).
    tables.connections.grant(this.messageFunction, 'dynamodb:DeleteItem');

    this.api = new WebSocketApi(this, 'Api', {
      description: 'so-backup connectors dial out to this API',
      routeSelectionExpression: ROUTE_SELECTION_EXPRESSION,
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', connectFn),
        authorizer: new WebSocketLambdaAuthorizer('ConnectorAuthorizer', authorizerFn, {
          identitySource: [`route.request.header.${CONNECTOR_AUTH_HEADER}`],
        }),
      },
      disconnectRouteOptions: { integration: new WebSocketLambdaIntegration('DisconnectIntegration', disconnectFn) },
      defaultRouteOptions: { integration: new WebSocketLambdaIntegration('MessageIntegration', this.messageFunction) },
    });
    // MOCK integrations answer with the status code their request template gives; a one-way route sends nothing back.
    this.api.addRoute(HEARTBEAT_ROUTE_KEY, {
      integration: new WebSocketMockIntegration('HeartbeatIntegration', {
        requestTemplates: { $default: '{"statusCode": 200}' },
        templateSelectionExpression: '\\$default',
      }),
    });
    const throttle = props.throttle ?? { rateLimit: 50, burstLimit: 100 };
    validateRange('throttle.rateLimit', throttle.rateLimit, 1, 10_000);
    validateRange('throttle.burstLimit', throttle.burstLimit, 1, 5_000);
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName ?? 'prod',
      autoDeploy: true,
      throttle,
    });
    this.grantManageConnections(this.messageFunction);
    this.grantManageConnections(connectFn);
    for (const route of ['$disconnect', '$default', HEARTBEAT_ROUTE_KEY]) {
      acceptFinding(
        this.api.node.findChild(`${route}-Route`),
        'AwsSolutions-APIG4',
        'API Gateway allows an authorizer only on $connect: it authorizes the connection (signed, replay-proof), and every later message on it belongs to that authenticated connection.',
      );
    }
    acceptFinding(
      this.stage,
      'AwsSolutions-APIG1',
      'The authorizer logs every $connect (tenant, key, verdict) and the message function every message with its run id; WebSocket access logs would need the account-wide API Gateway CloudWatch role, which this stack must not change.',
    );
  }

  /** The https:// endpoint of the @connections management API for this stage. */
  get connectionsEndpoint(): string {
    return this.stage.callbackUrl;
  }

  /** execute-api:ManageConnections on this API (post to, look up and close connections). */
  grantManageConnections(grantee: IGrantable & IConstruct) {
    acceptFinding(
      grantee,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnElement)}>/*/*/@connections/*]`,
      'Posting to and closing connections of this API only: connection ids are not known in advance.',
    );
    return this.api.grantManageConnections(grantee);
  }
}
