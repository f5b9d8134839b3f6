import http from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';

/**
 * Local DynamoDB (dynalite) listens on a Unix socket inside a private (0700) folder, never on a TCP
 * port: dynalite checks no signature at all, so on a port any local user could read and write every
 * table (tenants' public keys, activation codes). Only local mode's AWS endpoint, which verifies
 * SigV4 and evaluates IAM, forwards to it; provisioning creates the tables through it before the
 * endpoint starts.
 */

/** Linux: a Unix socket's path fits in sockaddr_un's 108 bytes, the final NUL included (unix(7)). */
const SOCKET_PATH_MAX_BYTES = 107;

/**
 * dynalite's command line (to run under Node.js): DynamoDB on the Unix socket `socketPath`
 * (dynalite's `--port` is handed to Node's `server.listen`, which takes a path), its tables in dbDir
 * (LevelDB; in memory when omitted), and tables that become ACTIVE at once rather than after
 * dynalite's simulated delays.
 * @throws Error when the socket's path is too long for a Unix socket
 */
export function dynaliteArgs(socketPath: string, dbDir?: string): string[] {
  assertSocketPath(socketPath);
  return [
    path.resolve(__dirname, '..', 'node_modules', 'dynalite', 'cli.js'),
    '--port',
    path.resolve(socketPath),
    ...(dbDir === undefined ? [] : ['--path', dbDir]),
    '--createTableMs',
    '0',
    '--deleteTableMs',
    '0',
    '--updateTableMs',
    '0',
  ];
}

/** @throws Error naming the path and the limit when it is too long for a Unix socket */
export function assertSocketPath(socketPath: string): void {
  const bytes = Buffer.byteLength(path.resolve(socketPath));
  if (bytes > SOCKET_PATH_MAX_BYTES)
    throw new Error(
      `${path.resolve(socketPath)} is ${bytes} bytes long, too long for a Unix socket (at most ${SOCKET_PATH_MAX_BYTES}): choose a data folder with a shorter path`,
    );
}

/** An HTTP agent whose every connection goes to the Unix socket (for the AWS SDK and for forwarding). */
export function socketAgent(socketPath: string): http.Agent {
  const agent = new http.Agent({ keepAlive: true });
  // http.Agent opens its sockets through createConnection: here always the Unix socket.
  (agent as unknown as { createConnection: () => ReturnType<typeof connect> }).createConnection = () => connect(path.resolve(socketPath));
  return agent;
}

/** AWS SDK settings for a DynamoDB client talking to dynalite's socket directly (provisioning only). */
export function dynaliteClientConfig(socketPath: string) {
  return {
    endpoint: 'http://localhost',
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: { httpAgent: socketAgent(socketPath) },
  };
}

/** True when something accepts connections on the Unix socket. */
export function socketOpen(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path.resolve(socketPath));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
