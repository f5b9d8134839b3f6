import type { CfnResource, CfnTemplate } from './synthesize-template';

/** The local "account": fixed names that every local ARN is made of. */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_PARTITION = 'aws';
export const LOCAL_BUCKET = 'so-backup-local';
/** The WebSocket API's id in local ARNs and endpoints (`arn:aws:execute-api:…:local/prod/…`). */
export const LOCAL_API_ID = 'local';

const STATE_MACHINE_KEY = 'so-backup:state-machine';

/** A resource of the template with every intrinsic function resolved to a local name. */
export interface ResolvedResource {
  id: string;
  type: string;
  properties: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/**
 * Resolves the template's intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
 * Fn::Split and the pseudo parameters) to the names the resources have in local mode, as
 * CloudFormation resolves them to physical names on deploy: tables `so-backup-<id>`, the one
 * bucket `so-backup-local`, roles and functions by logical id, and ARNs in the local account
 * and region. Properties are resolved lazily, so an unsupported intrinsic only fails where it
 * is used (a function's `Code` asset location, for instance, is never needed).
 * @throws Error naming an intrinsic this resolver does not know, rather than guessing.
 */
export class TemplateResolver {
  readonly resources: Record<string, CfnResource>;

  constructor(template: CfnTemplate) {
    this.resources = template.Resources;
  }

  /** The state machine's name: its `so-backup:state-machine` metadata, else its logical id. */
  stateMachineName(id: string): string {
    return String(this.resources[id]?.Metadata?.[STATE_MACHINE_KEY] ?? id);
  }

  /** What `Ref` of a resource returns (CloudFormation's documented return value per type). */
  ref(id: string): string {
    const type = this.resources[id]?.Type;
    if (!type) throw new Error(`the template has no resource ${id} (Ref)`);
    switch (type) {
      case 'AWS::DynamoDB::Table':
        return `so-backup-${id}`;
      case 'AWS::S3::Bucket':
        return LOCAL_BUCKET;
      case 'AWS::StepFunctions::StateMachine':
        return this.attribute(id, 'Arn');
      case 'AWS::SNS::Topic':
        return this.attribute(id, 'TopicArn');
      case 'AWS::ApiGatewayV2::Api':
        return LOCAL_API_ID;
      case 'AWS::Logs::LogGroup':
        return `/so-backup/${id}`;
      default:
        return id;
    }
  }

  /** What `Fn::GetAtt` returns for the attributes the stack uses. */
  attribute(id: string, name: string): string {
    const type = this.resources[id]?.Type;
    if (!type) throw new Error(`the template has no resource ${id} (Fn::GetAtt ${name})`);
    const arn = (service: string, rest: string, region = LOCAL_REGION, account = LOCAL_ACCOUNT) =>
      `arn:${LOCAL_PARTITION}:${service}:${region}:${account}:${rest}`;
    const key = `${type} ${name}`;
    switch (key) {
      case 'AWS::DynamoDB::Table Arn':
        return arn('dynamodb', `table/${this.ref(id)}`);
      case 'AWS::S3::Bucket Arn':
        return `arn:${LOCAL_PARTITION}:s3:::${LOCAL_BUCKET}`;
      case 'AWS::KMS::Key Arn':
        return arn('kms', `key/${id}`);
      case 'AWS::KMS::Key KeyId':
        return id;
      case 'AWS::SNS::Topic TopicArn':
        return arn('sns', id);
      case 'AWS::SNS::Topic TopicName':
        return id;
      case 'AWS::StepFunctions::StateMachine Arn':
        return arn('states', `stateMachine:${this.stateMachineName(id)}`);
      case 'AWS::StepFunctions::StateMachine Name':
        return this.stateMachineName(id);
      case 'AWS::Lambda::Function Arn':
        return arn('lambda', `function:${id}`);
      case 'AWS::IAM::Role Arn':
        return `arn:${LOCAL_PARTITION}:iam::${LOCAL_ACCOUNT}:role/${id}`;
      case 'AWS::IAM::Role RoleId':
        return `AROA${id.toUpperCase().slice(0, 17)}`;
      case 'AWS::Logs::LogGroup Arn':
        return arn('logs', `log-group:${this.ref(id)}:*`);
      case 'AWS::Scheduler::Schedule Arn':
        return arn('scheduler', `schedule/default/${id}`);
      case 'AWS::CloudWatch::Alarm Arn':
        return arn('cloudwatch', `alarm:${id}`);
      case 'AWS::ApiGatewayV2::Api ApiEndpoint':
        return `wss://${LOCAL_API_ID}.execute-api.${LOCAL_REGION}.amazonaws.com`;
      default:
        throw new Error(`local mode cannot resolve Fn::GetAtt ${id}.${name} (${type}); teach local/cloud/resolve-template.ts its value`);
    }
  }

  private pseudo(name: string): string | undefined {
    return {
      'AWS::Partition': LOCAL_PARTITION,
      'AWS::Region': LOCAL_REGION,
      'AWS::AccountId': LOCAL_ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'SoBackup',
    }[name];
  }

  /** Resolves one value (deeply). */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v)).filter((v) => v !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'))) return this.intrinsic(keys[0]!, object[keys[0]!]);
    return Object.fromEntries(keys.map((k) => [k, this.resolve(object[k])]).filter(([, v]) => v !== NO_VALUE));
  }

  private intrinsic(name: string, arg: unknown): unknown {
    switch (name) {
      case 'Ref': {
        const ref = String(arg);
        if (ref === 'AWS::NoValue') return NO_VALUE;
        return this.pseudo(ref) ?? this.ref(ref);
      }
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? (arg as [string, string]) : (String(arg).split('.') as [string, string]);
        return this.attribute(id, attribute);
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [number | string, unknown];
        const items = this.resolve(list) as unknown[];
        const item = items[Number(index)];
        if (item === undefined) throw new Error(`Fn::Select index ${index} is outside a list of ${items.length}`);
        return item;
      }
      case 'Fn::Split': {
        const [separator, source] = arg as [string, unknown];
        return String(this.resolve(source)).split(separator);
      }
      case 'Fn::Sub': {
        const [text, variables = {}] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
        return text.replace(/\$\{([^}!][^}]*)\}/g, (_, expression: string) => {
          if (expression in variables) return String(this.resolve(variables[expression]));
          const pseudo = this.pseudo(expression);
          if (pseudo !== undefined) return pseudo;
          const [id, attribute] = expression.split('.');
          return attribute ? this.attribute(id!, attribute) : this.ref(id!);
        });
      }
      default:
        throw new Error(`local mode cannot resolve ${name}; teach local/cloud/resolve-template.ts to`);
    }
  }

  /** Every resource of a type, with its properties resolved. */
  ofType(type: string): ResolvedResource[] {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === type)
      .map(([id]) => this.resource(id));
  }

  /** One resource with its properties resolved (a function's Code is left as it is: it names an asset). */
  resource(id: string): ResolvedResource {
    const raw = this.resources[id];
    if (!raw) throw new Error(`the template has no resource ${id}`);
    const { Code, ...rest } = raw.Properties ?? {};
    const properties = this.resolve(rest) as Record<string, unknown>;
    return { id, type: raw.Type, properties: Code === undefined ? properties : { ...properties, Code }, metadata: raw.Metadata ?? {} };
  }
}

const NO_VALUE = Symbol('AWS::NoValue');
