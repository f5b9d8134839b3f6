// The local cloud process that local mode starts: `tsx local/bin/local-cloud.ts CONFIG.json`.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { localCloudConfigSchema } from '../cloud/local-cloud-config';
import { startLocalCloud } from '../cloud/start-local-cloud';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: local-cloud CONFIG.json\n');
  process.exit(2);
}
const config = localCloudConfigSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
startLocalCloud(config).then(
  (cloud) => {
    process.stdout.write(
      `local cloud ready: gateway ws://127.0.0.1:${config.gatewayPort}, AWS endpoint https://127.0.0.1:${config.awsPort}, on Node ${process.version}\n`,
    );
    // `fire <schedule>` on stdin fires one of the stack's schedules now, as EventBridge Scheduler would
    // (the fleet benchmark times the hourly checks so); the outcome comes back as one line on stdout.
    createInterface({ input: process.stdin }).on('line', (line) => {
      const name = /^fire (\S+)$/.exec(line.trim())?.[1];
      if (!name) return;
      cloud.scheduler.fire(name).then(
        (firing) => process.stdout.write(`fired ${name} ${JSON.stringify(firing)}\n`),
        (error: unknown) => process.stdout.write(`refused ${name} ${error instanceof Error ? error.message : String(error)}\n`),
      );
    });
    const stop = () => void cloud.stop().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  },
  (error: unknown) => {
    process.stderr.write(`local cloud failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
