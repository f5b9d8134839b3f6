import { encodeMessage, MAX_MESSAGE_BYTES, parseMessage, ProtocolError } from '../../protocol';

const progress = '{"type":"progress","v":1,"runId":"acme-2026-11-25-daily","phase":"database","percent":40}';

describe('parseMessage', () => {
  test('GIVEN a valid progress frame WHEN parsed THEN it is typed', () => {
    const message = parseMessage('connector', progress);
    expect(message).toEqual({ type: 'progress', v: 1, runId: 'acme-2026-11-25-daily', phase: 'database', percent: 40 });
  });

  test.each([
    ['not JSON', '{"type":', 'MESSAGE_NOT_JSON', /not valid JSON/],
    ['unknown type', '{"type":"hello","v":1}', 'MESSAGE_INVALID', /unknown message type "hello"/],
    ['no type', '[1,2]', 'MESSAGE_INVALID', /unknown message type null/],
    ['wrong version', '{"type":"progress","v":2,"runId":"r1","phase":"database"}', 'MESSAGE_INVALID', /invalid "progress" message/],
    ['bad run id', '{"type":"progress","v":1,"runId":"../etc","phase":"database"}', 'MESSAGE_INVALID', /run id/],
    ['percent out of range', '{"type":"progress","v":1,"runId":"r1","phase":"database","percent":140}', 'MESSAGE_INVALID', /percent/],
  ])('GIVEN %s WHEN parsed THEN ProtocolError %s names the problem', (_, raw, code, message) => {
    expect(() => parseMessage('connector', raw)).toThrow(ProtocolError);
    try {
      parseMessage('connector', raw);
    } catch (error) {
      expect((error as ProtocolError).code).toBe(code);
      expect((error as Error).message).toMatch(message);
    }
  });

  test('GIVEN a frame over 128 KB WHEN parsed THEN it is refused before JSON parsing', () => {
    const raw = JSON.stringify({ type: 'progress', v: 1, runId: 'r1', phase: 'database', detail: 'x'.repeat(MAX_MESSAGE_BYTES) });
    expect(() => parseMessage('connector', raw)).toThrow(/limit is 131072 bytes/);
  });

  test('GIVEN a result without manifest WHEN parsed THEN the discriminated union rejects it', () => {
    expect(() => parseMessage('connector', '{"type":"result","v":1,"runId":"r1","outcome":"succeeded"}')).toThrow(/manifest/);
  });

  test('GIVEN a backup job for the connector WHEN parsed with the connector schema THEN it is not a connector message', () => {
    const job = {
      type: 'backup-job',
      v: 1,
      runId: 'r1',
      tenantId: 'acme',
      requestedAt: new Date().toISOString(),
      target: { bucket: 'bkt', region: 'eu-north-1' },
      credentials: { accessKeyId: 'A', secretAccessKey: 'S', expiration: new Date().toISOString() },
    };
    expect(parseMessage('cloud', JSON.stringify(job)).type).toBe('backup-job');
    expect(() => parseMessage('connector', JSON.stringify(job))).toThrow(ProtocolError);
  });

  test('encodeMessage refuses an outgoing message API Gateway would reject', () => {
    expect(() =>
      encodeMessage({ type: 'error', v: 1, error: { code: 'X', message: 'y'.repeat(4000) }, inReplyTo: 'z'.repeat(100) }),
    ).not.toThrow();
    expect(() => encodeMessage({ type: 'progress', v: 1, runId: 'r1', phase: 'archive', detail: 'x'.repeat(MAX_MESSAGE_BYTES) })).toThrow(
      /exceeds/,
    );
  });
});
