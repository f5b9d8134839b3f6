import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { acceptFinding, arnInFinding } from './reviewed-finding';

export interface BackupTablesProps {
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** Index names shared with functions/src/shared (the code that queries them). */
export const TABLE_INDEXES = { connectionsByTenant: 'byTenant', runsByTenant: 'byTenant' } as const;

/** Tenants, live connector connections, runs and auth nonces: on demand, point-in-time recovery on. */
export class BackupTables extends Construct {
  readonly tenants: Table;
  readonly connections: Table;
  readonly runs: Table;
  /** Nonces of $connect signatures, kept (by TTL) just long enough to refuse replays. */
  readonly nonces: Table;

  constructor(scope: Construct, id: string, props: BackupTablesProps = {}) {
    super(scope, id);
    const common = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    this.tenants = new Table(this, 'Tenants', { ...common, partitionKey: { name: 'tenantId', type: AttributeType.STRING } });
    this.connections = new Table(this, 'Connections', {
      ...common,
      partitionKey: { name: 'connectionId', type: AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
    });
    this.connections.addGlobalSecondaryIndex({
      indexName: TABLE_INDEXES.connectionsByTenant,
      partitionKey: { name: 'tenantId', type: AttributeType.STRING },
      sortKey: { name: 'connectedAt', type: AttributeType.STRING },
    });
    this.runs = new Table(this, 'Runs', { ...common, partitionKey: { name: 'runId', type: AttributeType.STRING } });
    this.runs.addGlobalSecondaryIndex({
      indexName: TABLE_INDEXES.runsByTenant,
      partitionKey: { name: 'tenantId', type: AttributeType.STRING },
      sortKey: { name: 'startedAt', type: AttributeType.STRING },
    });
    // Table grants include the table's indexes ("<table>/index/*"): the by-tenant queries need them.
    for (const table of [this.connections, this.runs]) {
      acceptFinding(
        Stack.of(this),
        `AwsSolutions-IAM5[Resource::${arnInFinding(table)}/index/*]`,
        "Access to this table's own secondary indexes (the by-tenant queries); nothing outside the table.",
      );
    }
    this.nonces = new Table(this, 'Nonces', {
      ...common,
      partitionKey: { name: 'nonce', type: AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
    });
  }

  /** The environment variables by which functions find these tables. */
  environment(): Record<string, string> {
    return {
      TENANTS_TABLE: this.tenants.tableName,
      CONNECTIONS_TABLE: this.connections.tableName,
      RUNS_TABLE: this.runs.tableName,
      NONCES_TABLE: this.nonces.tableName,
    };
  }
}
