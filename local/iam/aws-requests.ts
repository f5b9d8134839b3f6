import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../cloud/resolve-template';
import type { AccessRequest } from './iam-authorizer';
import { decodeUriPart } from './sigv4-verifier';

/**
 * What an AWS API request asks IAM for, derived from the request itself as the service does:
 * the operation, and each (action, resource, condition keys) it must be allowed. Sources: the
 * Service Authorization Reference (actions, resource types and condition keys per operation)
 * and each service's API reference (how operations appear on the wire).
 */
export interface DerivedRequest {
  operation: string;
  checks: AccessRequest[];
  /**
   * KMS use the operation implies on the KMS key that encrypts `resource` (an SSE-KMS bucket, an
   * encrypted topic): the caller needs these KMS permissions too, by its policies and the key's.
   */
  kms?: { resource: string; actions: string[]; viaService: string };
}

const table = (name: string) => `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT}:table/${name}`;

/** DynamoDB (JSON 1.0, `X-Amz-Target: DynamoDB_20120810.<Operation>`). */
export function dynamodbRequest(target: string, body: Record<string, unknown>): DerivedRequest {
  const operation = target.replace(/^DynamoDB_\d+\./, '');
  const tableName = typeof body.TableName === 'string' ? body.TableName : undefined;
  const on = (action: string, name: string, index?: unknown) => ({
    action: `dynamodb:${action}`,
    resource: `${table(name)}${typeof index === 'string' ? `/index/${index}` : ''}`,
  });
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return { operation, checks: Object.keys((body.RequestItems ?? {}) as object).map((name) => on(operation, name)) };
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const kinds: Record<string, string> = {
        Put: 'PutItem',
        Update: 'UpdateItem',
        Delete: 'DeleteItem',
        ConditionCheck: 'ConditionCheckItem',
        Get: 'GetItem',
      };
      const items = (body.TransactItems ?? []) as Array<Record<string, { TableName: string }>>;
      return {
        operation,
        checks: items.flatMap((item) =>
          Object.entries(item)
            .filter(([kind]) => kinds[kind])
            .map(([kind, spec]) => on(kinds[kind]!, spec.TableName)),
        ),
      };
    }
    case 'ListTables':
      return { operation, checks: [{ action: 'dynamodb:ListTables', resource: '*' }] };
    default:
      if (!tableName) throw new Error(`DynamoDB ${operation} without a TableName`);
      return { operation, checks: [on(operation, tableName, operation === 'Query' || operation === 'Scan' ? body.IndexName : undefined)] };
  }
}

/** Step Functions (JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Operation>`); task tokens are resolved to their state machine by the caller. */
export function stepFunctionsRequest(
  target: string,
  body: Record<string, unknown>,
  stateMachineOfToken: (token: string) => string,
): DerivedRequest {
  const operation = target.replace(/^AWSStepFunctions\./, '');
  const field = (name: string) => {
    const value = body[name];
    if (typeof value !== 'string' || !value) throw new Error(`Step Functions ${operation} without ${name}`);
    return value;
  };
  switch (operation) {
    case 'StartExecution':
    case 'StartSyncExecution':
    case 'ListExecutions':
    case 'DescribeStateMachine':
      return { operation, checks: [{ action: `states:${operation}`, resource: field('stateMachineArn') }] };
    case 'DescribeExecution':
    case 'StopExecution':
    case 'GetExecutionHistory':
    case 'DescribeStateMachineForExecution':
      return { operation, checks: [{ action: `states:${operation}`, resource: field('executionArn') }] };
    case 'SendTaskSuccess':
    case 'SendTaskFailure':
    case 'SendTaskHeartbeat':
      return { operation, checks: [{ action: `states:${operation}`, resource: stateMachineOfToken(field('taskToken')) }] };
    default:
      return { operation, checks: [{ action: `states:${operation}`, resource: '*' }] };
  }
}

/** SNS (query protocol: `Action=Publish&TopicArn=…`). Publishing to an encrypted topic also uses its KMS key. */
export function snsRequest(params: URLSearchParams): DerivedRequest {
  const operation = params.get('Action') ?? '';
  const topic = params.get('TopicArn') ?? params.get('TargetArn') ?? '*';
  return {
    operation,
    checks: [{ action: `sns:${operation}`, resource: topic }],
    ...(operation === 'Publish'
      ? { kms: { resource: topic, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], viaService: `sns.${LOCAL_REGION}.amazonaws.com` } }
      : {}),
  };
}

/** STS (query protocol). AssumeRole with session tags is also sts:TagSession on the role, with the tags as request tags. */
export function stsRequest(params: URLSearchParams): DerivedRequest {
  const operation = params.get('Action') ?? '';
  if (operation === 'GetCallerIdentity') return { operation, checks: [] }; // needs no permission
  const role = params.get('RoleArn') ?? '*';
  const tags: Record<string, string> = {};
  for (let i = 1; params.has(`Tags.member.${i}.Key`); i++)
    tags[params.get(`Tags.member.${i}.Key`)!] = params.get(`Tags.member.${i}.Value`) ?? '';
  const transitive = [...params.keys()].some((k) => k.startsWith('TransitiveTagKeys.member.'));
  const sessionName = params.get('RoleSessionName');
  const context = { ...(sessionName ? { 'sts:RoleSessionName': sessionName } : {}) };
  const checks: AccessRequest[] = [{ action: `sts:${operation}`, resource: role, context }];
  if (Object.keys(tags).length > 0 || transitive) {
    checks.push({
      action: 'sts:TagSession',
      resource: role,
      context: {
        ...context,
        'aws:TagKeys': Object.keys(tags),
        ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
      },
    });
  }
  return { operation, checks };
}

/** The API Gateway management API (`{stage}/@connections/{id}`): execute-api:ManageConnections. */
export function connectionsRequest(method: string, path: string, apiId: string): DerivedRequest {
  const match = /^\/([^/]+)\/@connections\/([^/?]+)/.exec(path);
  if (!match) throw new Error(`not an @connections path: ${path}`);
  return {
    operation: { GET: 'GetConnection', POST: 'PostToConnection', DELETE: 'DeleteConnection' }[method] ?? method,
    checks: [
      {
        action: 'execute-api:ManageConnections',
        resource: `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${apiId}/${match[1]}/${method}/@connections/${match[2]}`,
      },
    ],
  };
}

/** One S3 request, path style (`/bucket/key?subresource`). */
export interface S3HttpRequest {
  method: string;
  /** The path as sent, URL-encoded. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  /** Only for POST ?delete: the request body (DeleteObjects' XML). */
  body?: string;
  /**
   * The header names as sent, one per header line (Node's `rawHeaders` names): a repeated
   * `x-amz-*` header is refused, since Node joins the values with ", " while RGW reads one of them.
   */
  headerNames?: readonly string[];
}

/**
 * Refuses a query string S3 and the local S3 could read differently: a parameter given twice (Ceph
 * RGW keeps the last value, a reader taking the first would authorize another version, prefix or
 * subresource than RGW serves) and an empty `versionId` (RGW reads it as "the current version",
 * S3 answers 400 InvalidArgument). Throws `InvalidArgument: …` (the endpoint answers 400).
 */
export function assertUnambiguousS3Query(query: URLSearchParams, where = 'the query string'): void {
  const names = [...query.keys()];
  const repeated = [...new Set(names.filter((name, index) => names.indexOf(name) !== index))];
  if (repeated.length > 0)
    throw new Error(
      `InvalidArgument: ${where} gives ${repeated.map((name) => `'${name}'`).join(', ')} more than once; give each parameter once`,
    );
  if (query.get('versionId') === '') throw new Error(`InvalidArgument: Version id cannot be the empty string (${where})`);
}

/**
 * An `x-amz-copy-source` as S3 and Ceph RGW read it: split at the first `?` BEFORE URL-decoding
 * (so an encoded `%3F` belongs to the key), a leading `/` dropped, the rest decoded to
 * `bucket/key`, and `versionId` read from what follows the `?` (S3 API reference, CopyObject:
 * "the value must be URL-encoded"; RGW's RGWCopyObj::parse_copy_location does the same).
 * Throws `InvalidArgument: …` for a source without bucket and key, or an ambiguous query.
 */
export function parseCopySource(header: string): { bucket: string; key: string; versionId?: string } {
  const mark = header.indexOf('?');
  const name = (mark < 0 ? header : header.slice(0, mark)).replace(/^\//, '');
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    throw new Error(`InvalidArgument: x-amz-copy-source is not URL-encoded: ${header}`);
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1)
    throw new Error(`InvalidArgument: x-amz-copy-source must name a bucket and a key (bucket/key[?versionId=…]): ${header}`);
  const query = new URLSearchParams(mark < 0 ? '' : header.slice(mark + 1));
  assertUnambiguousS3Query(query, 'x-amz-copy-source');
  const versionId = query.get('versionId');
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), ...(versionId !== null ? { versionId } : {}) };
}

/** The query parameters of a presigned SigV4 request itself (names in lower case), not hoisted headers. */
const SIGV4_QUERY_PARAMETERS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
]);

/** S3 (REST, path style): the action per method, path and subresource, as S3 authorizes each operation. */
export function s3Request(request: S3HttpRequest): DerivedRequest {
  const { method, query } = request;
  assertUnambiguousS3Query(query);
  // A presigned URL may carry x-amz-* headers as query parameters (SDK presigners hoist them; S3
  // applies them): they are evaluated as the headers they stand for.
  const hoisted = [...query.entries()].filter(
    ([name]) => name.toLowerCase().startsWith('x-amz-') && !SIGV4_QUERY_PARAMETERS.has(name.toLowerCase()),
  );
  const headers: Record<string, string | undefined> = {
    ...Object.fromEntries(hoisted.map(([name, value]) => [name.toLowerCase(), value])),
    ...request.headers,
  };
  const amzNames = (request.headerNames ?? []).map((name) => name.toLowerCase()).filter((name) => name.startsWith('x-amz-'));
  const repeatedHeaders = [...new Set(amzNames.filter((name, index) => amzNames.indexOf(name) !== index))];
  if (repeatedHeaders.length > 0)
    throw new Error(`InvalidArgument: the request gives the header ${repeatedHeaders.join(', ')} more than once; give each header once`);
  const [, bucket = '', ...keyParts] = request.path.split('/');
  const key = keyParts.map((part) => decodeUriPart(part)).join('/');
  const bucketArn = `arn:aws:s3:::${decodeUriPart(bucket)}`;
  const objectArn = (k: string) => `${bucketArn}/${k}`;
  const has = (name: string) => query.has(name);
  const versionId = query.get('versionId') ?? undefined;
  const versionContext: Record<string, string> = versionId ? { 's3:versionid': versionId } : {};
  const check = (action: string, resource: string, context: Record<string, string | string[]> = {}): AccessRequest => ({
    action: `s3:${action}`,
    resource,
    context,
  });
  const kms = (actions: string[]) => ({ kms: { resource: bucketArn, actions, viaService: `s3.${LOCAL_REGION}.amazonaws.com` } });
  if (!bucket) return { operation: 'ListBuckets', checks: [check('ListAllMyBuckets', '*')] };

  if (!key) {
    const listing = {
      ...(query.get('prefix') !== null ? { 's3:prefix': query.get('prefix')! } : {}),
      ...(query.get('delimiter') !== null ? { 's3:delimiter': query.get('delimiter')! } : {}),
      ...(query.get('max-keys') !== null ? { 's3:max-keys': query.get('max-keys')! } : {}),
    };
    const sub = [
      'versions',
      'uploads',
      'location',
      'versioning',
      'policy',
      'lifecycle',
      'object-lock',
      'delete',
      'encryption',
      'tagging',
      'acl',
      'cors',
      'notification',
      'ownershipControls',
      'publicAccessBlock',
    ].find(has);
    const bucketOps: Record<string, [string, string]> = {
      'GET versions': ['ListObjectVersions', 'ListBucketVersions'],
      'GET uploads': ['ListMultipartUploads', 'ListBucketMultipartUploads'],
      'GET location': ['GetBucketLocation', 'GetBucketLocation'],
      'GET versioning': ['GetBucketVersioning', 'GetBucketVersioning'],
      'PUT versioning': ['PutBucketVersioning', 'PutBucketVersioning'],
      'GET policy': ['GetBucketPolicy', 'GetBucketPolicy'],
      'PUT policy': ['PutBucketPolicy', 'PutBucketPolicy'],
      'DELETE policy': ['DeleteBucketPolicy', 'DeleteBucketPolicy'],
      'GET lifecycle': ['GetBucketLifecycleConfiguration', 'GetLifecycleConfiguration'],
      'PUT lifecycle': ['PutBucketLifecycleConfiguration', 'PutLifecycleConfiguration'],
      'GET object-lock': ['GetObjectLockConfiguration', 'GetBucketObjectLockConfiguration'],
      'PUT object-lock': ['PutObjectLockConfiguration', 'PutBucketObjectLockConfiguration'],
      'GET encryption': ['GetBucketEncryption', 'GetEncryptionConfiguration'],
      'PUT encryption': ['PutBucketEncryption', 'PutEncryptionConfiguration'],
      'GET tagging': ['GetBucketTagging', 'GetBucketTagging'],
      'GET acl': ['GetBucketAcl', 'GetBucketAcl'],
      'GET cors': ['GetBucketCors', 'GetBucketCORS'],
      'GET notification': ['GetBucketNotificationConfiguration', 'GetBucketNotification'],
      'GET ownershipControls': ['GetBucketOwnershipControls', 'GetBucketOwnershipControls'],
      'GET publicAccessBlock': ['GetPublicAccessBlock', 'GetBucketPublicAccessBlock'],
    };
    if (sub === 'delete' && method === 'POST') {
      // DeleteObjects: each key is its own DeleteObject (or DeleteObjectVersion) decision.
      const objects = deleteObjectsBody(request.body ?? '');
      return {
        operation: 'DeleteObjects',
        checks: objects.flatMap((o) => [
          check(o.version ? 'DeleteObjectVersion' : 'DeleteObject', objectArn(o.key), o.version ? { 's3:versionid': o.version } : {}),
          ...(String(headers['x-amz-bypass-governance-retention'] ?? '').toLowerCase() === 'true'
            ? [check('BypassGovernanceRetention', objectArn(o.key))]
            : []),
        ]),
      };
    }
    const op = sub ? bucketOps[`${method} ${sub}`] : undefined;
    if (op) return { operation: op[0], checks: [check(op[1], bucketArn, sub === 'versions' || sub === 'uploads' ? listing : {})] };
    if (sub) throw new Error(`local mode does not know how S3 authorizes ${method} ?${sub} on a bucket`);
    if (method === 'GET' || method === 'HEAD')
      return { operation: method === 'GET' ? 'ListObjectsV2' : 'HeadBucket', checks: [check('ListBucket', bucketArn, listing)] };
    if (method === 'PUT') return { operation: 'CreateBucket', checks: [check('CreateBucket', bucketArn)] };
    if (method === 'DELETE') return { operation: 'DeleteBucket', checks: [check('DeleteBucket', bucketArn)] };
    throw new Error(`local mode does not know how S3 authorizes ${method} on a bucket`);
  }

  const object = objectArn(key);
  const copySource = headers['x-amz-copy-source'];
  // The bucket's ownership is BucketOwnerEnforced (the template's only bucket): S3 disables ACLs
  // and refuses any request that sets one other than bucket-owner-full-control (S3 User Guide,
  // "Controlling ownership of objects and disabling ACLs"). Tags set with the object are also
  // s3:PutObjectTagging (S3 API reference, PutObject: x-amz-tagging).
  if (method === 'PUT' || method === 'POST') {
    const acl = headers['x-amz-acl'];
    const grants = Object.keys(headers).filter((name) => name.toLowerCase().startsWith('x-amz-grant-'));
    if ((acl !== undefined && acl !== 'bucket-owner-full-control') || grants.length > 0) {
      throw new Error(
        `AccessControlListNotSupported: The bucket does not allow ACLs (it sets ${acl !== undefined && acl !== 'bucket-owner-full-control' ? `x-amz-acl: ${acl}` : grants.join(', ')})`,
      );
    }
  }
  const tagging =
    headers['x-amz-tagging'] !== undefined && !(copySource && headers['x-amz-tagging-directive'] !== 'REPLACE')
      ? [check('PutObjectTagging', object)]
      : [];
  const source = copySource !== undefined ? parseCopySource(copySource) : undefined;
  const copyChecks = (): AccessRequest[] =>
    source
      ? [
          check(
            source.versionId ? 'GetObjectVersion' : 'GetObject',
            `arn:aws:s3:::${source.bucket}/${source.key}`,
            source.versionId ? { 's3:versionid': source.versionId } : {},
          ),
        ]
      : [];
  // Object Lock settings given with an upload need their own actions (S3 API reference, PutObject:
  // x-amz-object-lock-mode and -retain-until-date need s3:PutObjectRetention, -legal-hold
  // s3:PutObjectLegalHold); so does bypassing governance mode (s3:BypassGovernanceRetention).
  const objectLock = [
    ...(headers['x-amz-object-lock-mode'] !== undefined || headers['x-amz-object-lock-retain-until-date'] !== undefined
      ? [check('PutObjectRetention', object)]
      : []),
    ...(headers['x-amz-object-lock-legal-hold'] !== undefined ? [check('PutObjectLegalHold', object)] : []),
  ];
  const bypassGovernance = (resource: string) =>
    String(headers['x-amz-bypass-governance-retention'] ?? '').toLowerCase() === 'true'
      ? [check('BypassGovernanceRetention', resource)]
      : [];
  // Reading a copy source of an SSE-KMS bucket decrypts it; writing encrypts with a new data key.
  const copyKms = copySource ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:GenerateDataKey'];
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (has('uploadId')) return { operation: 'ListParts', checks: [check('ListMultipartUploadParts', object)] };
      if (has('attributes'))
        return {
          operation: 'GetObjectAttributes',
          checks: [check(versionId ? 'GetObjectVersionAttributes' : 'GetObjectAttributes', object, versionContext)],
        };
      if (has('tagging'))
        return {
          operation: 'GetObjectTagging',
          checks: [check(versionId ? 'GetObjectVersionTagging' : 'GetObjectTagging', object, versionContext)],
        };
      if (has('retention')) return { operation: 'GetObjectRetention', checks: [check('GetObjectRetention', object, versionContext)] };
      if (has('legal-hold')) return { operation: 'GetObjectLegalHold', checks: [check('GetObjectLegalHold', object, versionContext)] };
      if (has('acl'))
        return { operation: 'GetObjectAcl', checks: [check(versionId ? 'GetObjectVersionAcl' : 'GetObjectAcl', object, versionContext)] };
      return {
        operation: method === 'GET' ? 'GetObject' : 'HeadObject',
        checks: [check(versionId ? 'GetObjectVersion' : 'GetObject', object, versionContext)],
        // Only a GET decrypts the object's data key; HEAD reads metadata.
        ...(method === 'GET' ? kms(['kms:Decrypt']) : {}),
      };
    case 'PUT':
      if (has('tagging'))
        return {
          operation: 'PutObjectTagging',
          checks: [check(versionId ? 'PutObjectVersionTagging' : 'PutObjectTagging', object, versionContext)],
        };
      if (has('retention'))
        return {
          operation: 'PutObjectRetention',
          checks: [check('PutObjectRetention', object, versionContext), ...bypassGovernance(object)],
        };
      if (has('legal-hold')) return { operation: 'PutObjectLegalHold', checks: [check('PutObjectLegalHold', object, versionContext)] };
      if (has('acl')) return { operation: 'PutObjectAcl', checks: [check('PutObjectAcl', object)] };
      if (has('partNumber') && has('uploadId'))
        return {
          operation: copySource ? 'UploadPartCopy' : 'UploadPart',
          checks: [check('PutObject', object), ...copyChecks()],
          ...kms(copyKms),
        };
      return {
        operation: copySource ? 'CopyObject' : 'PutObject',
        checks: [check('PutObject', object), ...tagging, ...objectLock, ...copyChecks()],
        ...kms(copyKms),
      };
    case 'POST':
      if (has('uploads'))
        return {
          operation: 'CreateMultipartUpload',
          checks: [check('PutObject', object), ...tagging, ...objectLock],
          ...kms(['kms:GenerateDataKey']),
        };
      // Completing an SSE-KMS multipart upload decrypts the parts' data keys.
      if (has('uploadId')) return { operation: 'CompleteMultipartUpload', checks: [check('PutObject', object)], ...kms(['kms:Decrypt']) };
      if (has('restore')) return { operation: 'RestoreObject', checks: [check('RestoreObject', object)] };
      break;
    case 'DELETE':
      if (has('uploadId')) return { operation: 'AbortMultipartUpload', checks: [check('AbortMultipartUpload', object)] };
      if (has('tagging'))
        return {
          operation: 'DeleteObjectTagging',
          checks: [check(versionId ? 'DeleteObjectVersionTagging' : 'DeleteObjectTagging', object, versionContext)],
        };
      return {
        operation: 'DeleteObject',
        checks: [check(versionId ? 'DeleteObjectVersion' : 'DeleteObject', object, versionContext), ...bypassGovernance(object)],
      };
  }
  throw new Error(`local mode does not know how S3 authorizes ${method} on an object`);
}

/**
 * The objects of a DeleteObjects request body (S3 API reference, DeleteObjects: `<Delete><Object>
 * <Key>…</Key><VersionId>…</VersionId></Object>…</Delete>`), read by an XML parser as S3 (and
 * RGW's expat) read it: whitespace inside tags, CDATA sections, character and entity references,
 * a namespace prefix. Keys keep their whitespace. Throws (the caller answers 400) for a body that
 * is not well-formed XML, whose root is not Delete, or with an Object that has not exactly one
 * Key or more than one VersionId — never a body of which only some objects would be checked.
 */
export function deleteObjectsBody(xml: string): Array<{ key: string; version?: string }> {
  const valid = XMLValidator.validate(xml);
  if (valid !== true)
    throw new Error(`MalformedXML: the DeleteObjects body is not well-formed XML (${valid.err.msg}, line ${valid.err.line})`);
  const document = DELETE_PARSER.parse(xml) as Record<string, unknown>;
  const roots = Object.keys(document).filter((name) => name !== '?xml');
  if (roots.length !== 1 || roots[0] !== 'Delete' || typeof document.Delete !== 'object' || document.Delete === null) {
    throw new Error(`MalformedXML: the DeleteObjects body's root element must be Delete (it has ${roots.join(', ') || 'none'})`);
  }
  const objects = ((document.Delete as Record<string, unknown>).Object ?? []) as unknown[];
  return objects.map((object, index) => {
    const fields = (typeof object === 'object' && object !== null ? object : {}) as { Key?: unknown[]; VersionId?: unknown[] };
    if (fields.Key?.length !== 1 || typeof fields.Key[0] !== 'string')
      throw new Error(`MalformedXML: Object ${index + 1} of the DeleteObjects body must have exactly one Key`);
    if ((fields.VersionId?.length ?? 0) > 1 || (fields.VersionId && typeof fields.VersionId[0] !== 'string'))
      throw new Error(`MalformedXML: Object ${index + 1} of the DeleteObjects body has more than one VersionId`);
    return { key: fields.Key[0], ...(fields.VersionId ? { version: fields.VersionId[0] as string } : {}) };
  });
}

const DELETE_PARSER = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  isArray: (name) => name === 'Object' || name === 'Key' || name === 'VersionId',
});
