import { App } from 'aws-cdk-lib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SoBackupStack, type SoBackupStackProps } from '../../infra/lib/so-backup-stack';

export type CfnTemplate = { Resources: Record<string, CfnResource> };
export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

/**
 * Synthesizes the real stack in-process, as `cdk synth` would, but without bundling the
 * functions (local mode runs their TypeScript directly). The result is the template to deploy.
 */
export function synthesizeTemplate(props: SoBackupStackProps = {}): CfnTemplate {
  const outdir = mkdtempSync(path.join(tmpdir(), 'so-backup-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SoBackupStack(app, 'SoBackup', props);
    return app.synth().getStackByName(stack.stackName).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
