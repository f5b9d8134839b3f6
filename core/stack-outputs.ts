import { z } from 'zod';

/**
 * The stack's outputs the operator CLI works with: what `cdk deploy --outputs-file` writes and
 * CloudFormation's DescribeStacks returns (infra/lib/so-backup-stack.ts declares them). Output
 * values are strings.
 */
export const stackOutputsSchema = z
  .object({
    ConnectorEndpoint: z.string().min(1),
    BackupBucketName: z.string().min(1),
    BackupRunStateMachineArn: z.string().min(1),
    TenantsTableName: z.string().min(1),
    RunsTableName: z.string().min(1),
    ConnectionsTableName: z.string().min(1),
    /** The IANA time zone of backup times, which also names every run's day (core/run-name.ts). */
    ScheduleTimeZone: z.string().min(1),
    /** How long a RUNNING run counts as running (core/run-rules.ts activeRun), in seconds. */
    RunTimeoutSeconds: z.coerce.number().int().positive(),
    /** The stack's backup window (core/backup-window.ts), in seconds, 0: none; absent from stacks older than it. */
    RunWindowSeconds: z.coerce.number().int().min(0).optional(),
    /** Connectors' presence (core/presence.ts PresenceSettings) as JSON; absent from stacks older than it (connectors stay connected). */
    PresenceSettings: z.string().min(2).optional(),
  })
  .loose();
export type StackOutputs = z.infer<typeof stackOutputsSchema>;

/** The file local mode writes into its data folder for the CLI: the stack's outputs and where its endpoints are. */
export const LOCAL_OUTPUTS_FILE = 'outputs.json';

/**
 * What local mode tells the CLI (`--local DIR` reads DIR/outputs.json): the stack's outputs as
 * local mode deployed them, and its endpoints with the operator's key. Written 0600 (it holds keys).
 */
export const localOutputsSchema = z
  .object({
    outputs: stackOutputsSchema,
    region: z.string().min(1),
    /** The AWS endpoint (DynamoDB, Step Functions, S3; IAM-checked on every call), https with the CA below. */
    awsEndpoint: z.url(),
    /** API Gateway's @connections API of the WebSocket stage. */
    connectionsEndpoint: z.url(),
    /** The CA certificate (PEM) that signed the endpoints' certificates. */
    caFile: z.string().min(1),
    /** The operator's IAM user key. */
    operator: z.object({ accessKeyId: z.string().min(16), secretAccessKey: z.string().min(16) }).strict(),
  })
  .strict();
export type LocalOutputs = z.infer<typeof localOutputsSchema>;
