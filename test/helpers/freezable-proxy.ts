import { once } from 'node:events';
import net from 'node:net';
import { freePort } from './test-ports';

/**
 * A fault on the network path: a TCP proxy whose open connections can be frozen — bytes stop
 * flowing both ways but neither end sees a close (a half-open connection: a NAT or firewall that
 * forgot the flow, a peer that lost power). New connections pass normally.
 */
export async function startFreezableProxy(targetPort: number) {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const frozen: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      if (!pairs.has(pair)) return; // frozen: left hanging on purpose
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  const port = await freePort();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port,
    /** Stops every open connection dead, without closing either end. Returns how many were frozen. */
    freeze(): number {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.push(client, upstream);
      }
      const count = pairs.size;
      pairs.clear(); // frozen ones are destroyed when the proxy stops
      return count;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of frozen) socket.destroy();
        for (const { client, upstream } of pairs) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
