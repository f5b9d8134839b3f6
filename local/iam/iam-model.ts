import { TemplateResolver } from '../cloud/resolve-template';
import type { CfnTemplate } from '../cloud/synthesize-template';

/** An IAM policy document as the template holds it (resolved to local names). */
export interface PolicyDocument {
  Version?: string;
  Statement: Array<Record<string, unknown>> | Record<string, unknown>;
}

export interface IamRole {
  arn: string;
  name: string;
  /** The trust policy: who may assume the role (its resource policy for sts:AssumeRole and sts:TagSession). */
  trustPolicy: PolicyDocument;
  /** Inline, attached (AWS::IAM::Policy) and managed policies, by name. */
  policies: Array<{ name: string; policy: PolicyDocument }>;
  maxSessionSeconds: number;
}

/**
 * The template's IAM as an evaluator needs it: every role with its trust and identity policies,
 * and every resource policy in play (the bucket's, the topic's, each KMS key's, each function's
 * invoke permissions), plus which KMS key encrypts the bucket and the topic.
 */
export interface IamModel {
  roles: Map<string, IamRole>;
  /** Resource ARN → its resource-based policy. Functions' policies are built from AWS::Lambda::Permission. */
  resourcePolicies: Map<string, PolicyDocument>;
  /** Bucket or topic ARN → the ARN of the KMS key that encrypts it. */
  encryptionKeys: Map<string, string>;
}

/**
 * AWS managed policies the stack attaches, by ARN. Their documents are AWS's (published in the
 * IAM console and `aws iam get-policy-version`); a managed policy not listed here is an error,
 * so that nothing is granted or refused by guess.
 */
export const MANAGED_POLICIES: Record<string, PolicyDocument> = {
  'arn:aws:iam::aws:policy/AdministratorAccess': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
  'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], Resource: '*' }],
  },
};

/** Reads the template's roles and resource policies. @throws Error on a managed policy whose document is unknown. */
export function readIamModel(template: CfnTemplate): IamModel {
  const t = new TemplateResolver(template);
  const roles = new Map<string, IamRole>();
  const byName = new Map<string, IamRole>();
  for (const r of t.ofType('AWS::IAM::Role')) {
    const p = r.properties as {
      AssumeRolePolicyDocument: PolicyDocument;
      Policies?: Array<{ PolicyName: string; PolicyDocument: PolicyDocument }>;
      ManagedPolicyArns?: string[];
      MaxSessionDuration?: number;
    };
    const role: IamRole = {
      arn: t.attribute(r.id, 'Arn'),
      name: t.ref(r.id),
      trustPolicy: p.AssumeRolePolicyDocument,
      maxSessionSeconds: Number(p.MaxSessionDuration ?? 3600),
      policies: [
        ...(p.Policies ?? []).map((inline) => ({ name: inline.PolicyName, policy: inline.PolicyDocument })),
        ...(p.ManagedPolicyArns ?? []).map((arn) => {
          const policy = MANAGED_POLICIES[arn];
          if (!policy)
            throw new Error(
              `role ${r.id} attaches the managed policy ${arn}, whose document local mode does not know: add it to MANAGED_POLICIES in local/iam/iam-model.ts`,
            );
          return { name: arn, policy };
        }),
      ],
    };
    roles.set(role.arn, role);
    byName.set(role.name, role);
  }
  for (const r of t.ofType('AWS::IAM::Policy')) {
    const p = r.properties as { PolicyName: string; PolicyDocument: PolicyDocument; Roles?: string[] };
    for (const roleName of p.Roles ?? []) {
      const role = byName.get(roleName);
      if (!role) throw new Error(`policy ${r.id} is attached to role ${roleName}, which the template does not define`);
      role.policies.push({ name: p.PolicyName, policy: p.PolicyDocument });
    }
  }

  const resourcePolicies = new Map<string, PolicyDocument>();
  const add = (arn: string, statements: Array<Record<string, unknown>>) => {
    const existing = resourcePolicies.get(arn);
    const before = existing ? (Array.isArray(existing.Statement) ? existing.Statement : [existing.Statement]) : [];
    resourcePolicies.set(arn, { Version: '2012-10-17', Statement: [...before, ...statements] });
  };
  const statementsOf = (document: PolicyDocument) => (Array.isArray(document.Statement) ? document.Statement : [document.Statement]);
  for (const r of t.ofType('AWS::S3::BucketPolicy')) {
    add(`arn:aws:s3:::${String(r.properties.Bucket)}`, statementsOf(r.properties.PolicyDocument as PolicyDocument));
  }
  for (const r of t.ofType('AWS::SNS::TopicPolicy')) {
    for (const topic of r.properties.Topics as string[]) add(topic, statementsOf(r.properties.PolicyDocument as PolicyDocument));
  }
  for (const r of t.ofType('AWS::KMS::Key')) {
    add(t.attribute(r.id, 'Arn'), statementsOf(r.properties.KeyPolicy as PolicyDocument));
  }
  for (const r of t.ofType('AWS::Lambda::Permission')) {
    const p = r.properties as { Action: string; FunctionName: string; Principal: string; SourceArn?: string; SourceAccount?: string };
    const functionArn = p.FunctionName.startsWith('arn:') ? p.FunctionName : t.attribute(p.FunctionName, 'Arn');
    const condition: Record<string, Record<string, string>> = {};
    if (p.SourceArn) condition.ArnLike = { 'aws:SourceArn': p.SourceArn };
    if (p.SourceAccount) condition.StringEquals = { 'aws:SourceAccount': p.SourceAccount };
    add(functionArn, [
      {
        Sid: r.id,
        Effect: 'Allow',
        Action: p.Action,
        Resource: functionArn,
        Principal: p.Principal.endsWith('.amazonaws.com') ? { Service: p.Principal } : { AWS: p.Principal },
        ...(Object.keys(condition).length ? { Condition: condition } : {}),
      },
    ]);
  }
  for (const role of roles.values()) resourcePolicies.set(role.arn, role.trustPolicy);

  const encryptionKeys = new Map<string, string>();
  for (const r of t.ofType('AWS::S3::Bucket')) {
    const rules =
      (
        r.properties.BucketEncryption as
          | {
              ServerSideEncryptionConfiguration?: Array<{
                ServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: string };
              }>;
            }
          | undefined
      )?.ServerSideEncryptionConfiguration ?? [];
    const kms = rules.find((rule) => rule.ServerSideEncryptionByDefault?.SSEAlgorithm === 'aws:kms')?.ServerSideEncryptionByDefault
      ?.KMSMasterKeyID;
    if (kms) encryptionKeys.set(t.attribute(r.id, 'Arn'), kms);
  }
  for (const r of t.ofType('AWS::SNS::Topic')) {
    if (r.properties.KmsMasterKeyId) encryptionKeys.set(t.attribute(r.id, 'TopicArn'), String(r.properties.KmsMasterKeyId));
  }
  return { roles, resourcePolicies, encryptionKeys };
}
