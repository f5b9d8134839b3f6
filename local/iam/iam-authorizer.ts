import { getDenialReasons, isWildcardOnlyAction, runSimulation, runUnsafeSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../cloud/resolve-template';
import type { IamModel, PolicyDocument } from './iam-model';

/**
 * Who makes a request:
 * - `role`: a session of one of the template's roles (a function, a state machine, a scheduler),
 *   optionally narrowed by a session policy;
 * - `user`: an IAM user with its own policies (local mode's operator);
 * - `service`: an AWS service acting as itself (CloudWatch publishing an alarm, API Gateway or
 *   Step Functions assuming a role), judged by resource policies alone.
 */
export type Caller =
  | { kind: 'role'; roleArn: string; sessionName: string; sessionPolicy?: PolicyDocument }
  | { kind: 'user'; arn: string; policies: Array<{ name: string; policy: PolicyDocument }> }
  | { kind: 'service'; service: string; sourceArn?: string; sourceAccount?: string };

/** One authorization question: may the caller do this action on this resource, in this context? */
export interface AccessRequest {
  action: string;
  resource: string;
  /** Request-specific condition keys (s3:prefix, aws:RequestTag/…, aws:TagKeys, …). */
  context?: Record<string, string | string[]>;
}

export type Decision = { allowed: true } | { allowed: false; explicit: boolean; principal: string; message: string };

/** The denial, as AWS words it: "User: <principal> is not authorized to perform: <action> on resource: <resource> because …". */
export class AccessDeniedError extends Error {
  constructor(
    readonly decision: Extract<Decision, { allowed: false }>,
    readonly request: AccessRequest,
  ) {
    super(decision.message);
    this.name = 'AccessDenied';
  }
}

/**
 * Actions that the IAM service reference lists without resource types ("wildcard only"), yet
 * AWS authorizes against a resource: Step Functions' task-token calls are judged against the
 * state machine of the token's execution (CDK's grantTaskResponse grants exactly that, and AWS
 * honours it: aws/aws-cdk#8486). These are evaluated against that ARN without the input
 * validation that would insist on "*".
 */
const RESOURCE_LEVEL_IN_PRACTICE = new Set(['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']);

/**
 * AWS's IAM policy evaluation over the template's policies, by a real evaluator
 * (@cloud-copilot/iam-simulate): the caller's identity policies, its session policy, and the
 * resource policy in play (bucket, topic, KMS key, role trust, function permissions), with AWS's
 * own rules for same-account access, explicit denies, and the resource policies that must allow
 * on their own (role trust policies and KMS key policies). Nothing here is an allow-list: only
 * the template decides.
 */
export class IamAuthorizer {
  constructor(private readonly model: IamModel) {}

  /** The ARN a caller is named by in AWS's messages (assumed-role sessions as STS names them). */
  principalOf(caller: Caller): string {
    if (caller.kind === 'service') return caller.service;
    if (caller.kind === 'user') return caller.arn;
    const role = this.role(caller.roleArn);
    return `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${role.name}/${caller.sessionName}`;
  }

  /** Decides one request. @throws Error when the request or a policy is malformed (a bug, not a denial). */
  async decide(caller: Caller, request: AccessRequest): Promise<Decision> {
    const principal = this.principalOf(caller);
    const identityPolicies = caller.kind === 'role' ? this.role(caller.roleArn).policies : caller.kind === 'user' ? caller.policies : [];
    const resourcePolicy = this.resourcePolicyOf(request.resource);
    const [service = '', actionName = ''] = request.action.split(':');
    const wildcardOnly = await isWildcardOnlyAction(service, actionName);
    const unsafe = wildcardOnly && RESOURCE_LEVEL_IN_PRACTICE.has(request.action);
    const simulation: Simulation = {
      request: {
        principal,
        action: request.action,
        resource: { resource: wildcardOnly && !unsafe ? '*' : request.resource, accountId: LOCAL_ACCOUNT },
        contextVariables: { ...this.globalContext(caller), ...request.context },
      },
      identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
      ...(caller.kind === 'role' && caller.sessionPolicy ? { sessionPolicy: caller.sessionPolicy } : {}),
    };
    if (unsafe) {
      const result = runUnsafeSimulation(simulation, {});
      return result === 'Allowed'
        ? { allowed: true }
        : this.denial(principal, request, result === 'ExplicitlyDenied', 'no identity-based policy allows');
    }
    const outcome = await runSimulation(simulation, {});
    if (outcome.resultType === 'error') {
      throw new Error(
        `IAM evaluation of ${request.action} on ${request.resource} for ${principal} could not run: ${JSON.stringify(outcome.errors)}`,
      );
    }
    if (outcome.overallResult === 'Allowed') return { allowed: true };
    const analysis = outcome.resultType === 'single' ? outcome.result.analysis : outcome.results[0]?.analysis;
    const reasons = analysis ? getDenialReasons(analysis) : [];
    const explicit = reasons.find((r) => r.denialType === 'Explicit');
    if (explicit) return this.denial(principal, request, true, `with an explicit deny in ${describe(explicit.policyType)}`);
    // A service acts without identity policies: only a resource policy could have let it in.
    const implicit =
      caller.kind === 'service' || (reasons.some((r) => r.policyType === 'resource') && !reasons.some((r) => r.policyType === 'identity'))
        ? 'resource'
        : reasons[0]?.policyType;
    if (!implicit && caller.kind === 'role' && caller.sessionPolicy)
      return this.denial(principal, request, false, 'because no session policy allows');
    return this.denial(
      principal,
      request,
      false,
      `because no ${implicit === 'resource' ? 'resource-based policy' : 'identity-based policy'} allows`,
    );
  }

  /** Decides every request; the first denial throws. @throws AccessDeniedError */
  async authorize(caller: Caller, ...requests: AccessRequest[]): Promise<void> {
    for (const request of requests) {
      const decision = await this.decide(caller, request);
      if (!decision.allowed) throw new AccessDeniedError(decision, request);
    }
  }

  /**
   * The KMS permissions a request implies on the key that encrypts `resourceArn` (an SSE-KMS
   * bucket, an encrypted topic), judged by the caller's policies and the key policy, as KMS does
   * when S3 or SNS call it on the caller's behalf. Nothing to check when it is not encrypted.
   * @throws AccessDeniedError naming the kms action and the key
   */
  async authorizeKeyUse(caller: Caller, resourceArn: string, actions: string[], viaService?: string): Promise<void> {
    const key = this.encryptionKeyOf(resourceArn);
    if (!key) return;
    const context = {
      'kms:CallerAccount': LOCAL_ACCOUNT,
      ...(viaService && caller.kind !== 'service' ? { 'kms:ViaService': viaService } : {}),
    };
    await this.authorize(caller, ...actions.map((action) => ({ action, resource: key, context })));
  }

  role(roleArn: string) {
    const role = this.model.roles.get(roleArn);
    if (!role) throw new Error(`no role ${roleArn} in the template`);
    return role;
  }

  /** The KMS key that encrypts a bucket's objects or a topic's messages, if any. */
  encryptionKeyOf(resourceArn: string): string | undefined {
    const bucket = /^arn:aws:s3:::([^/]+)/.exec(resourceArn);
    return this.model.encryptionKeys.get(bucket ? `arn:aws:s3:::${bucket[1]}` : resourceArn);
  }

  private resourcePolicyOf(resource: string): PolicyDocument | undefined {
    const bucket = /^arn:aws:s3:::([^/]+)/.exec(resource);
    if (bucket) return this.model.resourcePolicies.get(`arn:aws:s3:::${bucket[1]}`);
    const fn = /^(arn:aws:lambda:[^:]+:[^:]+:function:[^:]+)/.exec(resource);
    if (fn) return this.model.resourcePolicies.get(fn[1]!);
    return this.model.resourcePolicies.get(resource);
  }

  private globalContext(caller: Caller): Record<string, string | string[]> {
    const now = new Date();
    const common = {
      'aws:SecureTransport': 'true',
      'aws:CurrentTime': now.toISOString().replace(/\.\d+Z$/, 'Z'),
      'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
      'aws:RequestedRegion': LOCAL_REGION,
    };
    if (caller.kind === 'service') {
      return {
        ...common,
        'aws:PrincipalServiceName': caller.service,
        'aws:PrincipalIsAWSService': 'true',
        ...(caller.sourceArn ? { 'aws:SourceArn': caller.sourceArn } : {}),
        ...(caller.sourceAccount ? { 'aws:SourceAccount': caller.sourceAccount } : {}),
      };
    }
    const principalArn = caller.kind === 'role' ? caller.roleArn : caller.arn;
    return {
      ...common,
      'aws:PrincipalArn': principalArn,
      'aws:PrincipalAccount': LOCAL_ACCOUNT,
      'aws:PrincipalType': caller.kind === 'role' ? 'AssumedRole' : 'User',
      'aws:PrincipalIsAWSService': 'false',
    };
  }

  private denial(principal: string, request: AccessRequest, explicit: boolean, because: string): Decision {
    const tail = because.startsWith('with') ? because : `${because} the ${request.action} action`;
    return {
      allowed: false,
      explicit,
      principal,
      message: `User: ${principal} is not authorized to perform: ${request.action} on resource: ${request.resource} ${tail}`,
    };
  }
}

function describe(policyType: string): string {
  return (
    {
      identity: 'an identity-based policy',
      resource: 'a resource-based policy',
      scp: 'a service control policy',
      rcp: 'a resource control policy',
      pb: 'a permissions boundary',
      vpce: 'a VPC endpoint policy',
    }[policyType] ?? `a ${policyType} policy`
  );
}
