import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, timingSafeEqual } from 'node:crypto';
import { NodeSha256 } from '../../connector/src/store/signed-requests';
import { LOCAL_REGION } from '../cloud/resolve-template';

/** A request as it arrived: the path exactly as sent (still URL-encoded), the raw query, lower-case headers. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body, for services whose payload hash the signature covers (every JSON and query API). */
  body?: Buffer;
}

export interface SigningKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Why a signature was refused; each service words these in its own error shape. */
export type SignatureFailure =
  | 'MissingAuthenticationToken'
  | 'IncompleteSignature'
  | 'InvalidClientTokenId'
  | 'SignatureDoesNotMatch'
  | 'RequestTimeTooSkewed'
  | 'UnsupportedPayload'
  /** A presigned URL past its X-Amz-Expires (or dated in the future). */
  | 'RequestExpired'
  /** A presigned URL's X-Amz-* parameters are incomplete or out of range, or it is also signed by header. */
  | 'AuthorizationQueryParametersError';

export type Verified =
  | { ok: true; accessKeyId: string; service: string; region: string }
  | { ok: false; failure: SignatureFailure; message: string };

/** AWS refuses requests signed more than 15 minutes from its own clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** SigV4 query-string authentication: X-Amz-Expires is at most 604,800 s, 7 days (S3 API reference, "Authenticating Requests: Using Query Parameters"). */
export const PRESIGNED_MAX_EXPIRES_SECONDS = 604_800;
/** The query parameters of SigV4 query-string authentication. */
const PRESIGN_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
] as const;

/**
 * Verifies an AWS Signature Version 4 `Authorization` header the way AWS does: the access key
 * must be known, the session token must be the one issued with it, the date within 15 minutes,
 * and the signature must be the one the secret key gives over the canonical request — recomputed
 * with the AWS SDK's own signer (@smithy/signature-v4) over exactly the headers the client signed.
 * The scope's region must be the endpoint's, Host must be signed, and so must every x-amz-* header sent.
 * S3 requests sign the payload through `x-amz-content-sha256` (chunk-signed streaming payloads are
 * refused as unsupported); other services' bodies are hashed here.
 */
export async function verifySigV4(
  request: ReceivedRequest,
  keyOf: (accessKeyId: string) => SigningKey | undefined,
  now = new Date(),
  expectedRegion = LOCAL_REGION,
): Promise<Verified> {
  const header = single(request.headers.authorization);
  const presigned = parseQuery(request.query)['X-Amz-Algorithm'] !== undefined;
  if (header && presigned)
    return fail(
      'AuthorizationQueryParametersError',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    );
  if (presigned) return verifyPresigned(request, keyOf, now, expectedRegion);
  if (!header) return fail('MissingAuthenticationToken', 'Request is missing Authentication Token');
  const parsed =
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(
      header.trim(),
    );
  if (!parsed)
    return fail(
      'IncompleteSignature',
      `Authorization header is not a complete AWS4-HMAC-SHA256 signature: ${header.split('Signature=')[0]}`,
    );
  const [, accessKeyId = '', scopeDate = '', region = '', service = '', signedList = '', signature = ''] = parsed;
  const key = keyOf(accessKeyId);
  if (!key) return fail('InvalidClientTokenId', 'The security token included in the request is invalid.');
  const signed = signedList.split(';');
  // AWS: the credential scope names the endpoint's own region; Host is always signed; and every
  // x-amz-* header present is signed (S3: "There were headers present in the request which were not signed").
  if (region !== expectedRegion)
    return fail(
      'IncompleteSignature',
      `Credential should be scoped to a valid region: '${region}' is wrong; expecting '${expectedRegion}'`,
    );
  if (!signed.includes('host'))
    return fail('IncompleteSignature', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  const unsigned = Object.keys(request.headers)
    .map((name) => name.toLowerCase())
    .filter((name) => name.startsWith('x-amz-') && !signed.includes(name));
  if (unsigned.length > 0)
    return fail('SignatureDoesNotMatch', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);
  const token = single(request.headers['x-amz-security-token']);
  if ((key.sessionToken ?? undefined) !== (token ?? undefined) || (token && !signed.includes('x-amz-security-token'))) {
    return fail('InvalidClientTokenId', 'The security token included in the request is invalid.');
  }
  const amzDate = single(request.headers['x-amz-date']);
  if (!amzDate || !signed.includes('x-amz-date') || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== scopeDate) {
    return fail('IncompleteSignature', 'The request must carry a signed X-Amz-Date matching the credential scope');
  }
  const signingDate = dateOf(amzDate);
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    return fail(
      'RequestTimeTooSkewed',
      `Signature expired: ${amzDate} is more than 15 minutes from the server's time ${now.toISOString()}`,
    );
  }
  const payload = single(request.headers['x-amz-content-sha256']);
  if (payload === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || payload === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER') {
    return fail('UnsupportedPayload', 'chunk-signed streaming uploads are not supported by local mode');
  }
  // The signature covers the body through its hash: a declared hash must be the body's (S3 checks its own as the body arrives).
  if (
    service !== 's3' &&
    payload !== undefined &&
    payload !==
      createHash('sha256')
        .update(request.body ?? Buffer.alloc(0))
        .digest('hex')
  ) {
    return fail('SignatureDoesNotMatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const taken = signedHeaders(request, signed);
  if ('refused' in taken) return taken.refused;
  const { headers } = taken;
  // The token is already among the signed headers when the client signed it; the signer must not add it again.
  const signer = signerFor({ accessKeyId, secretAccessKey: key.secretAccessKey }, region, service);
  const host = headers.host ?? '';
  const recomputed = await signer.sign(
    {
      method: request.method,
      protocol: 'https:',
      hostname: host.replace(/:\d+$/, ''),
      path: request.path,
      query: parseQuery(request.query),
      headers,
      body: service === 's3' ? undefined : (request.body ?? Buffer.alloc(0)),
    },
    { signingDate, signingRegion: region, signingService: service, signableHeaders: new Set(signed) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(recomputed.headers.authorization))?.[1] ?? '';
  return signatureVerdict(expected, signature, { accessKeyId, service, region });
}

/**
 * SigV4 query-string authentication (a presigned URL), as S3 checks it: the X-Amz-* parameters
 * complete, the algorithm AWS4-HMAC-SHA256, the credential's key known and scoped to the
 * endpoint's region, the session token the one issued with the key, X-Amz-Expires 1–604,800 s and
 * not yet past (counted from X-Amz-Date), Host signed, and the signature the one the secret key gives
 * over the canonical request (every query parameter but X-Amz-Signature, the signed headers, and
 * the payload as UNSIGNED-PAYLOAD unless x-amz-content-sha256 was signed) — recomputed with the
 * AWS SDK's own presigner (@smithy/signature-v4).
 */
async function verifyPresigned(
  request: ReceivedRequest,
  keyOf: (accessKeyId: string) => SigningKey | undefined,
  now: Date,
  expectedRegion: string,
): Promise<Verified> {
  const query = parseQuery(request.query);
  const param = (name: (typeof PRESIGN_PARAMS)[number]) => {
    const value = query[name];
    return Array.isArray(value) ? undefined : value;
  };
  const missing = PRESIGN_PARAMS.filter((name) => name !== 'X-Amz-Security-Token' && param(name) === undefined);
  if (missing.length > 0)
    return fail(
      'AuthorizationQueryParametersError',
      `Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters (missing or repeated: ${missing.join(', ')}).`,
    );
  if (param('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
    return fail('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const credential = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(param('X-Amz-Credential')!);
  if (!credential)
    return fail(
      'AuthorizationQueryParametersError',
      `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`,
    );
  const [, accessKeyId = '', scopeDate = '', region = '', service = ''] = credential;
  if (region !== expectedRegion)
    return fail(
      'AuthorizationQueryParametersError',
      `Error parsing the X-Amz-Credential parameter; the region '${region}' is wrong; expecting '${expectedRegion}'`,
    );
  const expires = param('X-Amz-Expires')!;
  if (!/^\d+$/.test(expires)) return fail('AuthorizationQueryParametersError', 'X-Amz-Expires should be a number');
  if (Number(expires) < 1) return fail('AuthorizationQueryParametersError', 'X-Amz-Expires must be non-negative');
  if (Number(expires) > PRESIGNED_MAX_EXPIRES_SECONDS)
    return fail(
      'AuthorizationQueryParametersError',
      `X-Amz-Expires must be less than a week (in seconds) that is; ${PRESIGNED_MAX_EXPIRES_SECONDS} seconds`,
    );
  const amzDate = param('X-Amz-Date')!;
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== scopeDate)
    return fail(
      'AuthorizationQueryParametersError',
      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and match the credential",
    );
  const signingDate = dateOf(amzDate);
  if (now.getTime() > signingDate.getTime() + Number(expires) * 1000) return fail('RequestExpired', 'Request has expired');
  if (signingDate.getTime() - now.getTime() > MAX_SKEW_MS) return fail('RequestExpired', 'Request is not valid yet');
  const key = keyOf(accessKeyId);
  if (!key) return fail('InvalidClientTokenId', 'The AWS Access Key Id you provided does not exist in our records.');
  if ((key.sessionToken ?? undefined) !== (param('X-Amz-Security-Token') ?? undefined))
    return fail('InvalidClientTokenId', 'The provided token is malformed or otherwise invalid.');
  const signed = param('X-Amz-SignedHeaders')!.split(';');
  if (!signed.includes('host'))
    return fail('AuthorizationQueryParametersError', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  const unsigned = Object.keys(request.headers)
    .map((name) => name.toLowerCase())
    .filter((name) => name.startsWith('x-amz-') && name !== 'x-amz-content-sha256' && !signed.includes(name));
  if (unsigned.length > 0)
    return fail('SignatureDoesNotMatch', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);
  const taken = signedHeaders(request, signed);
  if ('refused' in taken) return taken.refused;
  const { headers } = taken;
  // S3: the payload of a presigned request is unsigned unless the client signed its hash.
  if (!signed.includes('x-amz-content-sha256')) headers['x-amz-content-sha256'] = service === 's3' ? 'UNSIGNED-PAYLOAD' : '';
  const rest = Object.fromEntries(Object.entries(query).filter(([name]) => !(PRESIGN_PARAMS as readonly string[]).includes(name)));
  const signer = signerFor({ accessKeyId, secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken }, region, service);
  const host = headers.host ?? '';
  const recomputed = await signer.presign(
    { method: request.method, protocol: 'https:', hostname: host.replace(/:\d+$/, ''), path: request.path, query: rest, headers },
    {
      signingDate,
      expiresIn: Number(expires),
      signingRegion: region,
      signingService: service,
      signableHeaders: new Set(signed),
      unsignableHeaders: new Set(signed.includes('x-amz-content-sha256') ? [] : ['x-amz-content-sha256']),
      unhoistableHeaders: new Set(Object.keys(headers)),
    },
  );
  const expected = String(recomputed.query?.['X-Amz-Signature'] ?? '');
  return signatureVerdict(expected, param('X-Amz-Signature')!, { accessKeyId, service, region });
}

/** The recomputed signature against the one given (in constant time): the caller verified, or S3's SignatureDoesNotMatch. */
function signatureVerdict(expected: string, signature: string, caller: { accessKeyId: string; service: string; region: string }): Verified {
  const same = expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  if (!same)
    return fail(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  return { ok: true, ...caller };
}

/** The request's values of the headers the client signed; a failure when one is missing. */
function signedHeaders(request: ReceivedRequest, signed: string[]): { headers: Record<string, string> } | { refused: Verified } {
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = request.headers[name];
    if (value === undefined) return { refused: fail('SignatureDoesNotMatch', `signed header ${name} is missing from the request`) };
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return { headers };
}

/** The SDK's own signer, to recompute what the client computed (S3 paths are signed as sent). */
function signerFor(credentials: SigningKey, region: string, service: string): SignatureV4 {
  return new SignatureV4({ credentials, region, service, sha256: NodeSha256, uriEscapePath: service !== 's3', applyChecksum: false });
}

/** X-Amz-Date (yyyyMMddTHHmmssZ) as a Date. */
function dateOf(amzDate: string): Date {
  return new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
}

/**
 * What a presigned request asks for, its authentication taken out: the query without the SigV4
 * X-Amz-* parameters, and the x-amz-* headers the presigner hoisted into the query (S3 applies
 * them as headers: a presigned PUT's `x-amz-tagging` tags the object), by lower-case name.
 */
export function unpresign(query: string): { query: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  const kept: string[] = [];
  for (const part of query.split('&').filter(Boolean)) {
    const at = part.indexOf('=');
    const name = decodeUriPart(at < 0 ? part : part.slice(0, at));
    if ((PRESIGN_PARAMS as readonly string[]).includes(name)) continue;
    if (name.toLowerCase().startsWith('x-amz-')) headers[name.toLowerCase()] = at < 0 ? '' : decodeUriPart(part.slice(at + 1));
    else kept.push(part);
  }
  return { query: kept.join('&'), headers };
}

/**
 * A URI part (path, query name or value) whose percent-encoding does not decode: a `%` not followed
 * by two hex digits (`%zz`, a lone `%`), or escapes that are not UTF-8 (`%ff`) — RFC 3986 §2.1.
 * S3 answers such a request 400 InvalidURI ("Couldn't parse the specified URI.", S3 API reference,
 * error codes); the query-protocol services MalformedQueryString (AWS common errors).
 */
export class MalformedUriError extends Error {}

/** decodeURIComponent for untrusted input. @throws MalformedUriError naming the part that does not decode. */
export function decodeUriPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new MalformedUriError(`not valid percent-encoding of UTF-8 (RFC 3986 §2.1): ${JSON.stringify(text.slice(0, 200))}`);
  }
}

/** The raw query string as the decoded name → value(s) record the signer canonicalizes. @throws MalformedUriError */
export function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const part of query.split('&').filter(Boolean)) {
    const at = part.indexOf('=');
    const name = decodeUriPart(at < 0 ? part : part.slice(0, at));
    const value = at < 0 ? '' : decodeUriPart(part.slice(at + 1));
    const existing = out[name];
    out[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return out;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function fail(failure: SignatureFailure, message: string): Verified {
  return { ok: false, failure, message };
}
