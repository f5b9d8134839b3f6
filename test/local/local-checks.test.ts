import { connectorKeyProblem, databaseNamesProblem, parseDatabaseStates } from '../../local/local-checks';

describe('local mode checks what it is given before it starts anything', () => {
  test("--database-state NAME=STATE sets the stand-in's state of a database that is backed up; anything else is named", () => {
    expect(
      parseDatabaseStates(
        ['2two=OFFLINE', 'superoffice=tde', "O'Brien CRM=READ_ONLY", 'a=b=AG_SECONDARY'],
        ['SuperOffice', '2two', "O'Brien CRM", 'a=b'],
      ),
    ).toEqual({
      '2two': { state: 'OFFLINE' },
      SuperOffice: { tde: { certificate: 'TDECert' } },
      "O'Brien CRM": { readOnly: true },
      'a=b': { availabilityGroup: { name: 'AG1', role: 'SECONDARY', synchronizationState: 'SYNCHRONIZED' } },
    });
    expect(() => parseDatabaseStates(['2two'], ['2two'])).toThrow('--database-state "2two": expected NAME=STATE, e.g. 2two=OFFLINE');
    expect(() => parseDatabaseStates(['2two=ASLEEP'], ['2two'])).toThrow(/unknown state "ASLEEP"; one of ONLINE, OFFLINE, .*TDE/);
    expect(() => parseDatabaseStates(['Other=OFFLINE'], ['SuperOffice'])).toThrow(
      '"Other" is not one of the databases backed up ("SuperOffice"); add it with --database',
    );
    expect(() => parseDatabaseStates(['2two=OFFLINE', '2TWO=ONLINE'], ['2two'])).toThrow('database "2two" is given two states');
  });

  test('GIVEN a database name the connector refuses (a control character) or one name twice WHEN local mode starts THEN it says so at once', () => {
    expect(databaseNamesProblem(['SuperOffice', '2two', "O'Brien CRM", '顧客'])).toBeUndefined();
    expect(databaseNamesProblem(['Super\u0001Office'])).toMatch(/^--database "Super\\u0001Office": the database name /);
    expect(databaseNamesProblem(['SuperOffice', 'superoffice'])).toBe(
      '--database "superoffice" is given twice (SQL Server compares names ignoring case by default)',
    );
  });

  test('GIVEN an enrolled connector whose key the tenant no longer holds (revoked) WHEN local mode starts THEN it names the key and how to re-enrol or start --fresh', () => {
    const identity = { current: { keyId: 'k-old' } };
    const keys = [{ keyId: 'k-new', publicKey: 'p', status: 'active' as const, createdAt: '2026-11-25T00:00:00.000Z' }];
    expect(connectorKeyProblem(identity, keys, '/work/data', '/work/data/connector/state/identity.json')).toBe(
      "the connector's key k-old is not one of the local tenant's keys (revoked, or replaced by another enrolment), so it cannot connect. " +
        'Enrol it again by removing /work/data/connector/state/identity.json and running local mode again (the next run enrols with a new one-time code), or start over with --fresh --data /work/data',
    );
    expect(connectorKeyProblem({ current: { keyId: 'k-new' } }, keys, '/d', '/d/i.json')).toBeUndefined();
    expect(
      connectorKeyProblem({ current: { keyId: 'k-old' }, pending: { keyId: 'k-new', registered: true } }, keys, '/d', '/d/i.json'),
    ).toBeUndefined();
  });
});
