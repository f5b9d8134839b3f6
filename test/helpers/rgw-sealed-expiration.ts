import { createCipheriv, createDecipheriv } from 'node:crypto';

/** Ceph's AES key handler: AES-128-CBC with this fixed IV and PKCS#7 padding (ceph/src/auth/Crypto.cc, CEPH_AES_IV). */
const CEPH_AES_IV = Buffer.from('cephsageyudagreg');
const ISO_8601 = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z/g;

/**
 * An RGW STS session token whose sealed expiration is moved to `expiration`, so that RGW itself
 * finds the session expired (or not) by its own clock — RGW refuses sessions shorter than 900 s,
 * too long to wait for in a test. RGW seals a session (access key, secret, expiration, policy …)
 * ceph-encoded and encrypted with `rgw sts key` (ceph/src/rgw/rgw_sts.cc generateCredentials),
 * base64; its STS engine decrypts it on every request and refuses it once `now >= expiration`
 * (rgw_rest_s3.cc STSEngine::authenticate). The expiration is an ISO 8601 text of fixed width
 * inside the encoding: replaced by one of the same width, the encoding stays valid and nothing
 * else changes — the key, the secret, the session policy are RGW's own.
 * @param stsKey the cluster's `rgw sts key` (16 characters; scripts/ceph-rgw.sh keeps it in DATA/ceph/sts.key)
 * @throws Error when the token does not decrypt with that key or holds no expiration
 */
export function withSealedExpiration(sessionToken: string, stsKey: string, expiration: Date): string {
  let sealed = Buffer.from(sessionToken, 'base64');
  // RGW appends a NUL after the ciphertext before encoding it.
  const nul = sealed.length % 16 === 1 && sealed[sealed.length - 1] === 0;
  if (nul) sealed = sealed.subarray(0, sealed.length - 1);
  const key = Buffer.from(stsKey, 'utf8');
  const decipher = createDecipheriv('aes-128-cbc', key, CEPH_AES_IV);
  const plain = Buffer.concat([decipher.update(sealed), decipher.final()]).toString('latin1');
  // The session's issue time and its expiration are both in there: the expiration is the later one.
  const stamps = [...plain.matchAll(ISO_8601)];
  if (stamps.length === 0) throw new Error('the session token holds no expiration: not an RGW STS token?');
  const latest = stamps.reduce((a, b) => (Date.parse(b[0]) > Date.parse(a[0]) ? b : a));
  const fraction = latest[1]?.length ?? 0;
  const ms = String(expiration.getUTCMilliseconds()).padStart(3, '0');
  const digits = fraction <= 3 ? ms.slice(0, fraction) : ms.padEnd(fraction, '0');
  const text = expiration.toISOString().replace(/\.\d{3}Z$/, fraction ? `.${digits}Z` : 'Z');
  if (text.length !== latest[0].length) throw new Error(`expiration ${latest[0]} has a form this helper cannot rewrite`);
  const changed = plain.slice(0, latest.index) + text + plain.slice(latest.index! + text.length);
  const cipher = createCipheriv('aes-128-cbc', key, CEPH_AES_IV);
  const out = Buffer.concat([cipher.update(Buffer.from(changed, 'latin1')), cipher.final(), nul ? Buffer.from([0]) : Buffer.alloc(0)]);
  return out.toString('base64');
}
