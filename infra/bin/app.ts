// The CDK app: one stack. Properties come from context (cdk.json or `-c key=value`).
import { App } from 'aws-cdk-lib';
import { SoBackupStack } from '../lib/so-backup-stack';
import { stackPropsFromContext } from '../lib/stack-props-from-context';

const app = new App();
new SoBackupStack(app, app.node.tryGetContext('stackName') ?? 'SoBackup', stackPropsFromContext(app.node));
app.synth();
