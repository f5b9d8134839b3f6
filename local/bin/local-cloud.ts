// The local cloud process that local mode starts: `tsx local/bin/local-cloud.ts CONFIG.json`.
import { readFileSync } from 'node:fs';
import { localCloudConfigSchema } from '../cloud/local-cloud-config';
import { startLocalCloud } from '../cloud/start-local-cloud';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: local-cloud CONFIG.json\n');
  process.exit(2);
}
const config = localCloudConfigSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
startLocalCloud(config).then((cloud) => {
  process.stdout.write(`local cloud ready: gateway ws://127.0.0.1:${config.gatewayPort}, AWS endpoint https://127.0.0.1:${config.awsPort}\n`);
  const stop = () => void cloud.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}, (error: unknown) => {
  process.stderr.write(`local cloud failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
