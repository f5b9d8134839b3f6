import { SignatureV4 } from '@smithy/signature-v4';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { NodeSha256 } from '../../connector/src/store/signed-requests';
import { dynamodbRequest, type DerivedRequest, s3Request, snsRequest, stepFunctionsRequest, stsRequest } from '../iam/aws-requests';
import { accessDenied, type ErrorAnswer, errorAnswer, type FrontDoorService, signatureRefused } from '../iam/aws-errors';
import { AccessDeniedError, type Caller, type IamAuthorizer } from '../iam/iam-authorizer';
import type { LocalCredentials } from '../iam/local-credentials';
import { decodeUriPart, MalformedUriError, parseQuery, unpresign, verifySigV4 } from '../iam/sigv4-verifier';
import { socketAgent } from '../dynamodb-socket';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './resolve-template';
import type { ApiAnswer } from './step-functions-api';
import { type LocalSns, TopicNotFoundError } from './local-sns';
import { rgwPolicy } from './rgw-iam';
import { validateSessionPolicy } from '@cloud-copilot/iam-policy';
import type { PolicyDocument } from '../iam/iam-model';

/** The S3 server behind the front door (Ceph RGW over TLS), and the key of the bucket owner that forwards to it. */
export interface S3Backend {
  endpoint: string;
  ca: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The role's ARN in RGW's IAM (`arn:aws:iam:::role/<name>`) for a template role ARN. */
  rgwRoleArn(roleArn: string): string;
}

export interface FrontDoorOptions {
  port: number;
  host?: string;
  /** PEM certificate chain and key the front door serves HTTPS with. */
  tls: { cert: string; key: string };
  authorizer: IamAuthorizer;
  credentials: LocalCredentials;
  /** dynalite's Unix socket (in a private folder: nothing but this endpoint reaches it). */
  dynamodbSocket: string;
  /** Ceph RGW for S3 and STS; none: S3 and STS calls are refused (tests without an S3). */
  s3?: S3Backend;
  stepFunctions: {
    api(action: string, body: Record<string, string | undefined>): Promise<ApiAnswer>;
    stateMachineOfToken(token: string): string;
  };
  sns: LocalSns;
  /** Every denial, for the logs and for tests. */
  onDenied?(denial: { service: FrontDoorService; operation: string; principal: string; message: string }): void;
}

/** STS role chaining: a role session can assume another role for at most an hour (STS AssumeRole reference). */
const ROLE_CHAINING_MAX_SECONDS = 3600;
/** STS: an inline session policy's plaintext is at most 2,048 characters (STS AssumeRole reference, `Policy`). */
const SESSION_POLICY_MAX_CHARS = 2048;

/**
 * The AWS endpoint of local mode: one HTTPS port that every function (and the operator) reaches
 * through the SDK's own endpoint variables (AWS_ENDPOINT_URL_DYNAMODB, _S3, _SFN, _SNS, _STS).
 * Each request's SigV4 signature is verified, its access key tells who is calling, the action and
 * resources are derived from the request as each service does, and the template's policies are
 * evaluated (identity, session, resource and KMS key policies). Allowed requests go on to the
 * real local service (dynalite, Ceph RGW, the local Step Functions, the local SNS); denied ones get
 * AccessDenied in that service's own error shape, naming principal, action and resource.
 */
export class AwsFrontDoor {
  private server?: https.Server;
  private readonly rgwAgent?: https.Agent;
  private readonly dynamodbAgent: http.Agent;

  constructor(private readonly options: FrontDoorOptions) {
    this.dynamodbAgent = socketAgent(options.dynamodbSocket);
    if (options.s3) this.rgwAgent = new https.Agent({ ca: options.s3.ca, keepAlive: true, maxSockets: 64 });
  }

  get endpoint(): string {
    return `https://${this.options.host ?? '127.0.0.1'}:${this.options.port}`;
  }

  async start(): Promise<void> {
    this.server = https.createServer({ cert: this.options.tls.cert, key: this.options.tls.key }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent)
          send(res, errorAnswer(signedService(req), 500, 'InternalFailure', `local front door: ${(error as Error).message}`));
        else res.destroy();
      });
    });
    this.server.listen(this.options.port, this.options.host ?? '127.0.0.1');
    await once(this.server, 'listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closing = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    this.rgwAgent?.destroy();
    this.dynamodbAgent.destroy();
    await closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [path = '/', query = ''] = (req.url ?? '/').split(/\?(.*)/s);
    // A path or query that does not percent-decode is refused before anything reads it, as AWS does.
    try {
      decodeUriPart(path);
      parseQuery(query);
    } catch (error) {
      if (!(error instanceof MalformedUriError)) throw error;
      const service = signedService(req);
      return send(
        res,
        service === 's3'
          ? errorAnswer('s3', 400, 'InvalidURI', `Couldn't parse the specified URI: ${error.message}`)
          : errorAnswer(service, 404, 'MalformedQueryString', `The query string contains a syntax error: ${error.message}`),
      );
    }
    // The service signed for: in the Authorization header, or a presigned URL's X-Amz-Credential.
    const credential = req.headers.authorization
      ? String(req.headers.authorization)
      : `Credential=${parseQuery(query)['X-Amz-Credential'] ?? ''}`;
    const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(credential)?.[1];
    const service = (scope ?? guessService(req)) as FrontDoorService;
    if (!['dynamodb', 'states', 's3', 'sns', 'sts'].includes(service)) {
      return send(res, errorAnswer('s3', 400, 'InvalidRequest', `local mode's AWS endpoint does not serve ${service}`));
    }
    // S3 bodies stream through to RGW (only DeleteObjects' XML is read); other services' bodies are small and signed.
    const streams = service === 's3' && !(req.method === 'POST' && /(^|&)delete(=|&|$)/.test(query));
    const body = streams ? undefined : await readBody(req);
    const verified = await verifySigV4({ method: req.method ?? 'GET', path, query, headers: req.headers, body }, (id) =>
      this.options.credentials.lookup(id),
    );
    if (!verified.ok) return send(res, signatureRefused(service, verified.failure, verified.message));
    const caller = this.options.credentials.lookup(verified.accessKeyId)!.caller;
    // A presigned request is judged and forwarded as what it asks for: its hoisted x-amz-* parameters are headers again.
    const asked = req.headers.authorization ? { query, headers: {} } : unpresign(query);
    const headers = { ...(req.headers as Record<string, string>), ...asked.headers };

    let derived: DerivedRequest;
    let params: URLSearchParams | undefined;
    let json: Record<string, unknown> = {};
    try {
      if (service === 'dynamodb' || service === 'states') json = JSON.parse(body!.toString('utf8') || '{}') as Record<string, unknown>;
      if (service === 'sns' || service === 'sts') params = new URLSearchParams(body!.toString('utf8'));
      const target = String(req.headers['x-amz-target'] ?? '');
      derived =
        service === 'dynamodb'
          ? dynamodbRequest(target, json)
          : service === 'states'
            ? stepFunctionsRequest(target, json, (token) => this.options.stepFunctions.stateMachineOfToken(token))
            : service === 'sns'
              ? snsRequest(params!)
              : service === 'sts'
                ? stsRequest(params!)
                : s3Request({
                    method: req.method ?? 'GET',
                    path,
                    query: new URLSearchParams(asked.query),
                    headers,
                    body: body?.toString('utf8'),
                    headerNames: req.rawHeaders.filter((_, index) => index % 2 === 0),
                  });
    } catch (error) {
      const message = (error as Error).message;
      const code = service === 's3' ? /^(MalformedXML|AccessControlListNotSupported|InvalidArgument): /.exec(message)?.[1] : undefined;
      return send(
        res,
        errorAnswer(
          service,
          400,
          code ?? (service === 's3' ? 'InvalidRequest' : 'ValidationException'),
          code ? message.slice(code.length + 2) : message,
        ),
      );
    }

    try {
      await this.options.authorizer.authorize(caller, ...derived.checks);
      if (derived.kms)
        await this.options.authorizer.authorizeKeyUse(caller, derived.kms.resource, derived.kms.actions, derived.kms.viaService);
    } catch (error) {
      if (!(error instanceof AccessDeniedError)) throw error;
      const principal = this.options.authorizer.principalOf(caller);
      this.options.onDenied?.({ service, operation: derived.operation, principal, message: error.message });
      const kms = error.request.action.startsWith('kms:');
      if (req.method === 'HEAD') return send(res, { ...accessDenied(service, error.message, kms), body: '' });
      return send(res, accessDenied(service, error.message, kms));
    }

    switch (service) {
      case 'dynamodb':
        return this.forwardDynamoDb(req, res, body!);
      case 'states': {
        const answer = await this.options.stepFunctions.api(derived.operation, json as Record<string, string | undefined>);
        res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' });
        return void res.end(JSON.stringify(answer.body));
      }
      case 'sns':
        return this.publish(res, caller, derived.operation, params!);
      case 'sts':
        return this.assumeRole(res, caller, derived.operation, params!);
      case 's3':
        // A presigned request's authentication is checked here; RGW gets the request itself, re-signed.
        return this.forwardS3(req, res, path, asked.query, asked.headers, body);
    }
  }

  private async publish(res: ServerResponse, caller: Caller, operation: string, params: URLSearchParams): Promise<void> {
    if (operation !== 'Publish')
      return send(res, errorAnswer('sns', 400, 'InvalidAction', `local SNS implements Publish only, not ${operation}`));
    try {
      const messageId = await this.options.sns.publish(
        caller,
        params.get('TopicArn') ?? '',
        params.get('Message') ?? '',
        params.get('Subject') ?? undefined,
      );
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${messageId}</RequestId></ResponseMetadata></PublishResponse>`,
      );
    } catch (error) {
      if (error instanceof TopicNotFoundError) return send(res, errorAnswer('sns', 404, 'NotFound', error.message));
      throw error;
    }
  }

  /** STS AssumeRole, minted by Ceph RGW's own STS: the role (created there from the template) and the session policy apply in RGW. */
  private async assumeRole(res: ServerResponse, caller: Caller, operation: string, params: URLSearchParams): Promise<void> {
    if (operation === 'GetCallerIdentity') {
      const arn = this.options.authorizer.principalOf(caller);
      res.writeHead(200, { 'content-type': 'text/xml' });
      return void res.end(
        `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>${arn.split('/').pop()}</UserId><Account>${LOCAL_ACCOUNT}</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`,
      );
    }
    if (operation !== 'AssumeRole')
      return send(res, errorAnswer('sts', 400, 'InvalidAction', `local STS implements AssumeRole and GetCallerIdentity, not ${operation}`));
    const s3 = this.options.s3;
    if (!s3)
      return send(
        res,
        errorAnswer('sts', 503, 'ServiceUnavailable', 'local mode runs without an S3 here, so STS has nothing to mint credentials for'),
      );
    const roleArn = params.get('RoleArn') ?? '';
    const seconds = Number(params.get('DurationSeconds') ?? 3600);
    const policy = params.get('Policy');
    const invalid = (message: string) => send(res, errorAnswer('sts', 400, 'ValidationError', message));
    if (policy !== null && policy.length > SESSION_POLICY_MAX_CHARS)
      return invalid(
        `1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to ${SESSION_POLICY_MAX_CHARS} (it has ${policy.length})`,
      );
    if (caller.kind === 'role' && seconds > ROLE_CHAINING_MAX_SECONDS)
      return invalid('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    if (seconds > this.options.authorizer.role(roleArn).maxSessionSeconds)
      return invalid('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    if (policy !== null) {
      let document: PolicyDocument;
      try {
        document = JSON.parse(policy) as PolicyDocument;
      } catch {
        return send(res, errorAnswer('sts', 400, 'MalformedPolicyDocument', 'The session policy is not valid JSON'));
      }
      const errors = validateSessionPolicy(document);
      if (errors.length > 0)
        return send(
          res,
          errorAnswer(
            'sts',
            400,
            'MalformedPolicyDocument',
            `The session policy is malformed: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
          ),
        );
      // RGW judges the S3 part; a session policy without one allows nothing there (never the whole role).
      params.set(
        'Policy',
        JSON.stringify(rgwPolicy(document) ?? { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: '*', Resource: '*' }] }),
      );
    }
    params.set('RoleArn', s3.rgwRoleArn(roleArn));
    const form = [...params.entries()].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const answer = await this.rgw(
      'POST',
      '/',
      '',
      { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      Buffer.from(form),
      'sts',
    );
    res.writeHead(answer.status, { 'content-type': answer.headers['content-type'] ?? 'text/xml' });
    res.end(answer.body);
  }

  /** S3: the same request, re-signed by the bucket owner's key for RGW (whose bucket policy then applies as well). */
  private async forwardS3(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: string,
    hoisted: Record<string, string>,
    body?: Buffer,
  ): Promise<void> {
    const s3 = this.options.s3;
    if (!s3) return send(res, errorAnswer('s3', 503, 'ServiceUnavailable', 'local mode runs without an S3 here'));
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...req.headers, ...hoisted })) {
      if (value === undefined || HOP_OR_SIGNATURE_HEADERS.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const url = new URL(s3.endpoint);
    headers.host = url.host;
    // A presigned request's body is unsigned (S3's UNSIGNED-PAYLOAD): so is the forwarded one.
    headers['x-amz-content-sha256'] ??= 'UNSIGNED-PAYLOAD';
    const signed = await signer(s3.credentials, 's3').sign({
      method: req.method ?? 'GET',
      protocol: 'https:',
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: parseQuery(query),
      headers,
    });
    const upstream = https.request(
      {
        hostname: url.hostname,
        port: url.port,
        method: req.method,
        path: query ? `${path}?${query}` : path,
        headers: signed.headers,
        agent: this.rgwAgent,
      },
      (answer) => {
        const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_HEADERS.has(name)));
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) send(res, errorAnswer('s3', 502, 'InternalError', `the local S3 (RGW) did not answer: ${error.message}`));
      else res.destroy();
    });
    if (body) upstream.end(body);
    else req.pipe(upstream);
  }

  private async rgw(
    method: string,
    path: string,
    query: string,
    headers: Record<string, string>,
    body: Buffer,
    service: string,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const s3 = this.options.s3!;
    const url = new URL(s3.endpoint);
    const signed = await signer(s3.credentials, service).sign({
      method,
      protocol: 'https:',
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: parseQuery(query),
      headers: { ...headers, host: url.host, 'content-length': String(body.length) },
      body,
    });
    return new Promise((resolve, reject) => {
      const request = https.request(
        {
          hostname: url.hostname,
          port: url.port,
          method,
          path: query ? `${path}?${query}` : path,
          headers: signed.headers,
          agent: this.rgwAgent,
        },
        async (answer) => {
          resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: await readBody(answer) });
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  /** DynamoDB: the verified request as it came, to dynalite's Unix socket. */
  private async forwardDynamoDb(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HOP_HEADERS.has(name) && name !== 'host'));
    const upstream = http.request(
      {
        agent: this.dynamodbAgent,
        method: req.method,
        path: req.url,
        headers: { ...headers, host: 'localhost', 'content-length': String(body.length) },
      },
      (answer) => {
        res.writeHead(
          answer.statusCode ?? 502,
          Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_HEADERS.has(name))),
        );
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) =>
      send(res, errorAnswer('dynamodb', 500, 'InternalServerError', `the local DynamoDB did not answer: ${error.message}`)),
    );
    upstream.end(body);
  }
}

const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'upgrade', 'trailer']);
const HOP_OR_SIGNATURE_HEADERS = new Set([...HOP_HEADERS, 'authorization', 'x-amz-security-token', 'x-amz-date', 'host', 'expect']);

function signer(credentials: { accessKeyId: string; secretAccessKey: string }, service: string): SignatureV4 {
  return new SignatureV4({
    credentials,
    region: LOCAL_REGION,
    service,
    sha256: NodeSha256,
    uriEscapePath: service !== 's3',
    applyChecksum: false,
  });
}

/** The service a request's Authorization header signed for, else guessed from the request; S3 for anything else. */
function signedService(req: IncomingMessage): FrontDoorService {
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
  const service = scope ?? guessService(req);
  return ['dynamodb', 'states', 's3', 'sns', 'sts'].includes(service) ? (service as FrontDoorService) : 's3';
}

function guessService(req: IncomingMessage): string {
  const target = String(req.headers['x-amz-target'] ?? '');
  if (target.startsWith('DynamoDB_')) return 'dynamodb';
  if (target.startsWith('AWSStepFunctions.')) return 'states';
  return 's3';
}

async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, answer: ErrorAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}
