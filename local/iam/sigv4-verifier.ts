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
  | 'UnsupportedPayload';

export type Verified =
  | { ok: true; accessKeyId: string; service: string; region: string }
  | { ok: false; failure: SignatureFailure; message: string };

/** AWS refuses requests signed more than 15 minutes from its own clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

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
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
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
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = request.headers[name];
    if (value === undefined) return fail('SignatureDoesNotMatch', `signed header ${name} is missing from the request`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const signer = new SignatureV4({
    // The token is already among the signed headers when the client signed it; the signer must not add it again.
    credentials: { accessKeyId, secretAccessKey: key.secretAccessKey },
    region,
    service,
    sha256: NodeSha256,
    uriEscapePath: service !== 's3',
    applyChecksum: false,
  });
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
  const same = expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  if (!same)
    return fail(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  return { ok: true, accessKeyId, service, region };
}

/** The raw query string as the decoded name → value(s) record the signer canonicalizes. */
export function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const part of query.split('&').filter(Boolean)) {
    const at = part.indexOf('=');
    const name = decodeURIComponent(at < 0 ? part : part.slice(0, at));
    const value = at < 0 ? '' : decodeURIComponent(part.slice(at + 1));
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
