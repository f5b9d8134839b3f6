import { authorizeConnector, type AuthorizeDeps } from '../../functions/src/authorizer/authorize-connector';
import { type ConnectorKey, hashActivationCode, newActivationCode, type TenantRecord } from '../../core';
import { enrolAuthorization, newConnectorKeyPair, publicKeyDerOf, signatureAuthorization } from '../../protocol';

/** In-memory tenants and nonces with the same conditional semantics as the DynamoDB stores. */
function stores(tenant: Partial<TenantRecord> = {}) {
  const record: TenantRecord = {
    tenantId: 'acme',
    displayName: 'Acme',
    enabled: true,
    keys: [],
    createdAt: '2026-11-01T00:00:00.000Z',
    ...tenant,
  };
  const seen = new Set<string>();
  const deps: AuthorizeDeps = {
    tenants: {
      get: async (id) => (id === record.tenantId ? structuredClone(record) : undefined),
      updateKeys: async (tenant, keys) => {
        if ((tenant.keysVersion ?? 0) !== (record.keysVersion ?? 0)) return false;
        record.keys = keys;
        record.keysVersion = (record.keysVersion ?? 0) + 1;
        return true;
      },
      useActivation: async (_id, codeHash, usedAt, key) => {
        if (record.activation?.codeHash !== codeHash || record.activation.usedAt) return false;
        record.activation.usedAt = usedAt;
        record.keys = [key];
        record.keysVersion = (record.keysVersion ?? 0) + 1;
        return true;
      },
    },
    nonces: { useOnce: async (tenantId, nonce) => !seen.has(`${tenantId}#${nonce}`) && Boolean(seen.add(`${tenantId}#${nonce}`)) },
  };
  return { deps, record };
}

const enrolled = () => {
  const pair = newConnectorKeyPair();
  const key: ConnectorKey = {
    keyId: pair.keyId,
    publicKey: publicKeyDerOf(pair.publicKeyPem),
    status: 'active',
    createdAt: '2026-11-01T00:00:00.000Z',
  };
  return { pair, key };
};

describe('enrolment with a one-time activation code', () => {
  const code = newActivationCode();
  const future = new Date(Date.now() + 3600_000).toISOString();

  test('GIVEN a valid code WHEN the connector enrols THEN its public key is stored and the code is spent', async () => {
    const { deps, record } = stores({ activation: { codeHash: hashActivationCode(code), expiresAt: future } });
    const { pair } = enrolled();
    expect(await authorizeConnector(deps, enrolAuthorization('acme', code, pair.keyId, pair.publicKeyPem))).toEqual({
      allowed: true,
      tenantId: 'acme',
      keyId: pair.keyId,
    });
    expect(record.keys).toEqual([
      expect.objectContaining({ keyId: pair.keyId, publicKey: publicKeyDerOf(pair.publicKeyPem), status: 'active' }),
    ]);
    expect(JSON.stringify(record)).not.toContain('PRIVATE');
    expect(JSON.stringify(record)).not.toContain(code);
  });

  test('GIVEN a used code WHEN presented again THEN it is refused', async () => {
    const { deps } = stores({ activation: { codeHash: hashActivationCode(code), expiresAt: future } });
    const first = enrolled().pair;
    const second = enrolled().pair;
    expect((await authorizeConnector(deps, enrolAuthorization('acme', code, first.keyId, first.publicKeyPem))).allowed).toBe(true);
    expect(await authorizeConnector(deps, enrolAuthorization('acme', code, second.keyId, second.publicKeyPem))).toMatchObject({
      allowed: false,
      reason: 'activation code already used',
    });
  });

  test('GIVEN an expired code WHEN presented THEN it is refused', async () => {
    const { deps } = stores({ activation: { codeHash: hashActivationCode(code), expiresAt: new Date(Date.now() - 1000).toISOString() } });
    const { pair } = enrolled();
    expect(await authorizeConnector(deps, enrolAuthorization('acme', code, pair.keyId, pair.publicKeyPem))).toMatchObject({
      allowed: false,
      reason: 'activation code expired',
    });
  });

  test('GIVEN a wrong code WHEN presented THEN it is refused', async () => {
    const { deps } = stores({ activation: { codeHash: hashActivationCode(code), expiresAt: future } });
    const { pair } = enrolled();
    expect(await authorizeConnector(deps, enrolAuthorization('acme', newActivationCode(), pair.keyId, pair.publicKeyPem))).toMatchObject({
      allowed: false,
      reason: 'wrong activation code',
    });
  });
});

describe('signed connections', () => {
  test('GIVEN an enrolled key WHEN the connector signs a fresh request THEN it is allowed, once', async () => {
    const { pair, key } = enrolled();
    const { deps } = stores({ keys: [key] });
    const header = signatureAuthorization('acme', pair.keyId, pair.privateKeyPem);
    expect(await authorizeConnector(deps, header)).toEqual({ allowed: true, tenantId: 'acme', keyId: pair.keyId });
    expect(await authorizeConnector(deps, header)).toMatchObject({ allowed: false, reason: 'replayed nonce' });
  });

  test('GIVEN a clock 6 minutes off WHEN signing THEN the reason names the skew and the fix', async () => {
    const { pair, key } = enrolled();
    const { deps } = stores({ keys: [key] });
    const header = signatureAuthorization('acme', pair.keyId, pair.privateKeyPem, Date.now() - 6 * 60_000);
    expect(await authorizeConnector(deps, header)).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/clock skew of 36\d s exceeds ±300 s; set the connector server's clock/),
    });
  });

  test('GIVEN a signature by another key WHEN presented under an enrolled key id THEN it is refused', async () => {
    const { pair, key } = enrolled();
    const { deps } = stores({ keys: [key] });
    const forged = signatureAuthorization('acme', pair.keyId, newConnectorKeyPair().privateKeyPem);
    expect(await authorizeConnector(deps, forged)).toMatchObject({ allowed: false, reason: 'bad signature' });
  });

  test('GIVEN a removed key or a disabled tenant WHEN connecting THEN it is refused', async () => {
    const { pair, key } = enrolled();
    expect(
      await authorizeConnector(stores({ keys: [] }).deps, signatureAuthorization('acme', pair.keyId, pair.privateKeyPem)),
    ).toMatchObject({ allowed: false, reason: 'unknown or revoked key' });
    expect(
      await authorizeConnector(
        stores({ keys: [key], enabled: false }).deps,
        signatureAuthorization('acme', pair.keyId, pair.privateKeyPem),
      ),
    ).toMatchObject({ allowed: false, reason: 'tenant disabled' });
  });

  test('GIVEN a rotated (pending) key WHEN first used THEN it becomes the only key and the old one stops working', async () => {
    const old = enrolled();
    const next = enrolled();
    const { deps, record } = stores({ keys: [old.key, { ...next.key, status: 'pending' }] });
    expect((await authorizeConnector(deps, signatureAuthorization('acme', old.pair.keyId, old.pair.privateKeyPem))).allowed).toBe(true);
    expect((await authorizeConnector(deps, signatureAuthorization('acme', next.pair.keyId, next.pair.privateKeyPem))).allowed).toBe(true);
    expect(record.keys).toEqual([{ ...next.key, status: 'active' }]);
    expect(await authorizeConnector(deps, signatureAuthorization('acme', old.pair.keyId, old.pair.privateKeyPem))).toMatchObject({
      allowed: false,
      reason: 'unknown or revoked key',
    });
  });

  test.each([
    ['no header', undefined],
    ['the old bearer scheme', 'Bearer acme.secret'],
    ['a tenant id with a slash', 'SoBackup-Ed25519 tenant=../x,key=k1,ts=1,nonce=aaaaaaaaaaaaaaaa,sig=x'],
    ['a missing signature', 'SoBackup-Ed25519 tenant=acme,key=k1,ts=1,nonce=aaaaaaaaaaaaaaaa'],
  ])('GIVEN %s WHEN connecting THEN it is refused as malformed', async (_, header) => {
    expect(await authorizeConnector(stores().deps, header)).toMatchObject({
      allowed: false,
      reason: 'missing or malformed Authorization header',
    });
  });
});
