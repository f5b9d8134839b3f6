import {
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import https from 'node:https';
import type { IamRole, PolicyDocument } from '../iam/iam-model';

/** The RGW user local mode's services act as (owner of the bucket; the one principal RGW's roles trust). */
export const RGW_USER_ARN = 'arn:aws:iam:::user/so-backup-local';

/** A role's ARN in RGW's IAM (no account: RGW's default tenant). */
export function rgwRoleArn(roleArn: string): string {
  return `arn:aws:iam:::role/${roleArn.split(':role/')[1] ?? ''}`;
}

/**
 * A policy as Ceph RGW can hold it: RGW authorizes S3, STS and IAM actions only and refuses a
 * policy naming any other service's action ("`kms:Decrypt` is not a valid action"), so those
 * actions are left out — RGW would never be asked about them. Statements left without actions
 * are dropped. Nothing is added or widened.
 */
export function rgwPolicy(document: PolicyDocument): PolicyDocument | undefined {
  const statements = (Array.isArray(document.Statement) ? document.Statement : [document.Statement]).flatMap((statement) => {
    const key = 'Action' in statement ? 'Action' : 'NotAction';
    const actions = ([] as unknown[]).concat(statement[key]).map(String);
    const kept = key === 'NotAction' ? actions : actions.filter((action) => action === '*' || /^(s3|sts|iam):/i.test(action));
    return kept.length === 0 ? [] : [{ ...statement, [key]: kept }];
  });
  return statements.length === 0 ? undefined : { Version: document.Version ?? '2012-10-17', Statement: statements };
}

/** Whether an IAM action pattern of a policy ("s3:Put*", "*") covers the action (case-insensitive, as IAM matches them). */
function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) =>
        part
          .split('?')
          .map((p) => p.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
          .join('.'),
      )
      .join('.*')}$`,
    'i',
  );
  return regex.test(action);
}

/** What an upload's headers can do beyond s3:PutObject on AWS (tags, Object Lock): RGW checks s3:PutObject only. */
const SESSION_REFUSED_ACTIONS = ['s3:PutObjectTagging', 's3:PutObjectRetention', 's3:PutObjectLegalHold'];

/**
 * Refuses a role whose sessions RGW could not hold to AWS's rules for upload headers. On AWS,
 * x-amz-tagging on an upload needs s3:PutObjectTagging too, and x-amz-object-lock-* headers
 * s3:PutObjectRetention / s3:PutObjectLegalHold; RGW checks s3:PutObject only, so local mode's RGW
 * script (scripts/rgw-prerequest.lua) refuses those headers to every STS session — right only while
 * no role copied into RGW has these actions. One that has is an error here, never silently held to
 * less or more.
 * @throws Error naming the role, the policy and the action.
 */
export function assertRgwCanHoldSessions(roles: IamRole[]): void {
  for (const role of roles) {
    for (const { name, policy } of role.policies) {
      const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
      for (const action of SESSION_REFUSED_ACTIONS) {
        const allowed = statements.some(
          (statement) =>
            statement.Effect === 'Allow' &&
            ('Action' in statement
              ? ([] as unknown[]).concat(statement.Action).some((a) => actionMatches(String(a), action))
              : !([] as unknown[]).concat(statement.NotAction).some((a) => actionMatches(String(a), action))),
        );
        if (allowed) {
          throw new Error(
            `role ${role.name} (policy ${name}) allows ${action}: local mode's RGW refuses it to every session (scripts/rgw-prerequest.lua), so it cannot hold this role to AWS's rules; teach that script the role's sessions before granting it`,
          );
        }
      }
    }
  }
}

/**
 * The trust policy of RGW's copy of each role: the one RGW user local mode mints as may assume it;
 * no session of any of these roles may. RGW matches a user principal against the user behind a
 * session too (a session minted for so-backup-local *is* so-backup-local to a trust policy), so
 * without the Deny a connector's session could call RGW's STS directly and assume the role again
 * without the minting session policy — the whole role, every tenant. On AWS the role trusts the
 * minting functions' roles only, and a connector's session is none of them. (A Deny sts:* in the
 * role's permission policy does not stop it: RGW does not evaluate the caller's identity policy
 * for AssumeRole — tried on Ceph RGW 20.)
 */
export function rgwTrustPolicy(roleNames: string[]): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: [RGW_USER_ARN] }, Action: ['sts:AssumeRole', 'sts:TagSession'] },
      ...(roleNames.length > 0
        ? [{ Effect: 'Deny', Principal: { AWS: roleNames.map((name) => `arn:aws:iam:::role/${name}`) }, Action: ['sts:*'] }]
        : []),
    ],
  };
}

/**
 * Creates or updates in RGW each template role that AWS principals assume (the connector's upload
 * role): its permission policies as the template has them (see rgwPolicy), its maximum session
 * length, and a trust policy for the one RGW user local mode forwards STS calls as — whether a
 * caller may assume the role is the template trust policy's question, answered before that (see
 * rgwTrustPolicy for why it also denies the roles' own sessions).
 */
export async function syncRgwRoles(
  endpoint: string,
  ca: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  roles: IamRole[],
): Promise<void> {
  assertRgwCanHoldSessions(roles);
  const iam = new IAMClient({
    endpoint,
    region: 'us-east-1',
    credentials,
    requestHandler: { httpsAgent: new https.Agent({ ca }) },
    maxAttempts: 3,
  });
  const trust = JSON.stringify(rgwTrustPolicy(roles.map((role) => role.name)));
  try {
    for (const role of roles) {
      try {
        await iam.send(
          new CreateRoleCommand({ RoleName: role.name, AssumeRolePolicyDocument: trust, MaxSessionDuration: role.maxSessionSeconds }),
        );
      } catch (error) {
        if ((error as Error).name !== 'EntityAlreadyExists' && (error as Error).name !== 'EntityAlreadyExistsException') throw error;
        await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: role.name, PolicyDocument: trust }));
        await iam.send(new UpdateRoleCommand({ RoleName: role.name, MaxSessionDuration: role.maxSessionSeconds }));
      }
      const wanted = new Map(
        role.policies.map((p) => [p.name.replace(/[^\w+=,.@-]/g, '-').slice(0, 128), rgwPolicy(p.policy)] as const).filter(([, p]) => p),
      );
      const existing = (await iam.send(new ListRolePoliciesCommand({ RoleName: role.name }))).PolicyNames ?? [];
      for (const name of existing.filter((n) => !wanted.has(n))) {
        await iam.send(new DeleteRolePolicyCommand({ RoleName: role.name, PolicyName: name })).catch((error: unknown) => {
          if (!(error instanceof NoSuchEntityException)) throw error;
        });
      }
      for (const [name, policy] of wanted)
        await iam.send(new PutRolePolicyCommand({ RoleName: role.name, PolicyName: name, PolicyDocument: JSON.stringify(policy) }));
    }
  } finally {
    iam.destroy();
  }
}

/** Roles that AWS principals (rather than only services) may assume: those RGW's STS must know. */
export function rolesAssumedByPrincipals(roles: Iterable<IamRole>): IamRole[] {
  return [...roles].filter((role) => {
    const statements = Array.isArray(role.trustPolicy.Statement) ? role.trustPolicy.Statement : [role.trustPolicy.Statement];
    return statements.some((s) => s.Effect === 'Allow' && typeof s.Principal === 'object' && s.Principal !== null && 'AWS' in s.Principal);
  });
}
