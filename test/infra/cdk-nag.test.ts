import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SoBackupStack } from '../../infra/lib/so-backup-stack';

/**
 * The AwsSolutions pack over the whole stack, through CDK's policy validation: synthesis fails on
 * any finding that is not acknowledged with a written reason (acknowledgements live next to the
 * construct they concern).
 */
test('cdk-nag AwsSolutions: no unacknowledged findings', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  new SoBackupStack(app, 'Nag', { alertEmail: 'ops@example.com' });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let report = '';
  try {
    app.synth();
  } catch (error) {
    report = (error as Error).message;
  }
  expect(report).toBe('');
});
