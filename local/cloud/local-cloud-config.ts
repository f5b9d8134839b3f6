import { z } from 'zod';

/** Configuration of the local cloud process (written by local mode, read by local/bin/local-cloud.ts and the so-backup CLI). */
export const localCloudConfigSchema = z
  .object({
    /** The synthesized template and the cloud assembly holding the functions' bundles. */
    templateFile: z.string().min(1),
    assemblyDir: z.string().min(1),
    /** Messages published to the stack's topics (what subscribers would receive), one JSON line each. */
    alertsFile: z.string().min(1),
    /** Function output, denials, alarm history and schedule firings. */
    logDir: z.string().min(1),
    /** The WebSocket API: ws:// and http:// on gatewayPort, wss:// and https:// on gatewayTlsPort. */
    gatewayPort: z.number().int().min(1).max(65535),
    gatewayTlsPort: z.number().int().min(1).max(65535),
    /** The AWS endpoint (front door) for DynamoDB, S3, Step Functions, SNS and STS: https://127.0.0.1:<awsPort>. */
    awsPort: z.number().int().min(1).max(65535),
    /** dynalite's Unix socket, in a 0700 folder: only the AWS endpoint reaches DynamoDB (local/dynamodb-socket.ts). */
    dynamodbSocket: z.string().min(1),
    /** Ceph RGW (https) and its bucket owner's key; absent where a test runs without S3. */
    s3: z
      .object({ endpoint: z.url(), accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) })
      .strict()
      .optional(),
    /** Local mode's CA and server certificate (local/cloud/local-tls.ts). */
    tlsDir: z.string().min(1),
    /** The operator's IAM user key (AdministratorAccess), for the so-backup CLI and local mode itself. */
    operator: z.object({ accessKeyId: z.string().min(16), secretAccessKey: z.string().min(16) }).strict(),
    /** `timed`: schedules fire on their expressions (a kept local mode); `manual`: only when fired. @default manual */
    schedules: z.enum(['timed', 'manual']).default('manual'),
    idleTimeoutMs: z.number().int().positive().optional(),
    maxConnectionMs: z.number().int().positive().optional(),
    /** Fault injection (tests): the gateway loses the next N result messages. */
    dropResults: z.number().int().min(0).optional(),
  })
  .strict();
export type LocalCloudConfig = z.input<typeof localCloudConfigSchema>;

/** The operator's identity in the local account. */
export const LOCAL_OPERATOR_ARN = 'arn:aws:iam::000000000000:user/so-backup-operator';
