import { z } from 'zod';

/** Configuration of the local cloud process (written by local mode, read by local/bin/local-cloud.ts). */
export const localCloudConfigSchema = z.object({
  templateFile: z.string().min(1),
  alertsFile: z.string().min(1),
  gatewayPort: z.number().int().min(1).max(65535),
  stepFunctionsPort: z.number().int().min(1).max(65535),
  dynamodbEndpoint: z.url(),
  s3Endpoint: z.url(),
  s3AccessKeyId: z.string().min(1),
  s3SecretAccessKey: z.string().min(1),
  idleTimeoutMs: z.number().int().positive().optional(),
  maxConnectionMs: z.number().int().positive().optional(),
}).strict();
export type LocalCloudConfig = z.infer<typeof localCloudConfigSchema>;
