import { once } from 'node:events';
import http from 'node:http';
import { freePort } from './test-ports';

/**
 * A fault at the S3 boundary: an HTTP proxy in front of a real S3 (Ceph RGW) that answers the
 * next N requests with `503 SlowDown`, as S3 does while it scales a prefix, and passes every
 * other request through unchanged. It counts the requests in flight at once.
 */
export async function startSlowDownProxy(target: string) {
  const upstream = new URL(target);
  let failing = 0;
  const seen: Array<{ method: string; url: string; status: number }> = [];
  const concurrency = { now: 0, peak: 0 };
  const server = http.createServer((req, res) => {
    concurrency.peak = Math.max(concurrency.peak, ++concurrency.now);
    res.on('close', () => concurrency.now--);
    if (failing > 0) {
      failing--;
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', status: 503 });
        const body =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>proxy</RequestId></Error>';
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const forward = http.request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  const port = await freePort();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** Answers the next `count` requests with 503 SlowDown. */
    slowDown(count: number) {
      failing = count;
    },
    /** Requests seen, with the status each got. */
    seen,
    /** Requests in flight now, and the most at once since the last reset. */
    concurrency,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
