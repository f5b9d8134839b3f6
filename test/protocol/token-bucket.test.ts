import { parseGatewayFrame, parseMessage, TokenBucket } from '../../protocol';

describe("TokenBucket (API Gateway's throttling model)", () => {
  test('GIVEN a full bucket of 3 at 2/s WHEN taken faster than it refills THEN it throttles, and refills continuously up to the burst', () => {
    const bucket = new TokenBucket(2, 3, 0);
    expect([bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0)]).toEqual([true, true, true, false]);
    expect(bucket.waitMs(0)).toBe(500);
    expect(bucket.tryTake(499)).toBe(false);
    expect(bucket.tryTake(500)).toBe(true);
    expect(bucket.tryTake(60_000) && bucket.tryTake(60_000) && bucket.tryTake(60_000)).toBe(true);
    expect(bucket.tryTake(60_000)).toBe(false); // never more than the burst
  });

  test('GIVEN nonsense limits WHEN a bucket is made THEN the error names the limit', () => {
    expect(() => new TokenBucket(0, 1)).toThrow('ratePerSecond must be more than 0, but 0 was provided');
    expect(() => new TokenBucket(1, 0.5)).toThrow('burst must be 1 or more, but 0.5 was provided');
  });
});

describe("API Gateway's own frames", () => {
  test('GIVEN raw frames WHEN read THEN gateway frames are told apart from protocol messages', () => {
    expect(parseGatewayFrame('{"message": "Too Many Requests", "connectionId":"abc=", "requestId":"def="}')).toEqual({
      message: 'Too Many Requests',
      connectionId: 'abc=',
      requestId: 'def=',
    });
    expect(parseGatewayFrame('{"message": "Internal server error", "connectionId":"abc=", "requestId":"def="}')?.message).toBe(
      'Internal server error',
    );
    expect(parseGatewayFrame('{"type":"ack","v":1,"runId":"acme-2026-11-25-daily"}')).toBeUndefined();
    expect(parseGatewayFrame('not json')).toBeUndefined();
    expect(parseMessage('cloud', '{"type":"ack","v":1,"runId":"acme-2026-11-25-daily"}').type).toBe('ack');
  });
});
