import { randomBytes } from 'node:crypto';
import type { Caller } from './iam-authorizer';
import type { SigningKey } from './sigv4-verifier';

/** Credentials and who they belong to. */
export interface IssuedCredentials extends SigningKey {
  caller: Caller;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const keyId = (prefix: string) => prefix + Array.from(randomBytes(16), (b) => ALPHABET[b % 32]).join('');

/**
 * The local account's credentials: each function runs with its own role session (ASIA… keys
 * with a session token, as Lambda hands a function its execution role's credentials), and the
 * operator has an IAM user's long-term key (AKIA…). Requests are signed with these; the access
 * key tells who is asking.
 */
export class LocalCredentials {
  private readonly byKey = new Map<string, IssuedCredentials>();

  /** A session of a role, as STS would issue it for `sessionName` (a function's name, say). */
  issueRoleSession(roleArn: string, sessionName: string): IssuedCredentials {
    const issued: IssuedCredentials = {
      accessKeyId: keyId('ASIA'),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(96).toString('base64'),
      caller: { kind: 'role', roleArn, sessionName },
    };
    this.byKey.set(issued.accessKeyId, issued);
    return issued;
  }

  /** An IAM user's access key (fixed keys may be given, so that a restarted cloud accepts the same ones). */
  addUser(caller: Extract<Caller, { kind: 'user' }>, key?: { accessKeyId: string; secretAccessKey: string }): IssuedCredentials {
    const issued: IssuedCredentials = {
      accessKeyId: key?.accessKeyId ?? keyId('AKIA'),
      secretAccessKey: key?.secretAccessKey ?? randomBytes(30).toString('base64'),
      caller,
    };
    this.byKey.set(issued.accessKeyId, issued);
    return issued;
  }

  lookup(accessKeyId: string): IssuedCredentials | undefined {
    return this.byKey.get(accessKeyId);
  }
}
