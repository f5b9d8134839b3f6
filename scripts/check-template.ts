// Template checks CI runs on the synthesized stack: `tsx scripts/check-template.ts cdk.out/SoBackup.template.json`.
// The state machine definitions are validated with asl-validator (the Amazon States Language's
// JSON schemas and JSONPath syntax); cfn-lint, run beside it by .ci/run, checks the rest.
import { readFileSync } from 'node:fs';
import { readLocalDeployment } from '../local/cloud/local-deployment';
import type { CfnTemplate } from '../local/cloud/synthesize-template';

// asl-validator has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errorsText(separator?: string): string };

/** Each state machine of the template with asl-validator's verdict (definitions resolved to local ARNs first). */
export function checkStateMachines(template: CfnTemplate): Array<{ name: string; valid: boolean; errors: string }> {
  return readLocalDeployment(template).stateMachines.map((machine) => {
    const result = aslValidator(machine.definition);
    return { name: machine.name, valid: result.isValid, errors: result.isValid ? '' : result.errorsText('\n  ') };
  });
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: check-template TEMPLATE.json\n');
    process.exit(2);
  }
  const results = checkStateMachines(JSON.parse(readFileSync(file, 'utf8')) as CfnTemplate);
  for (const r of results)
    process.stdout.write(r.valid ? `✓ ${r.name}: a valid Amazon States Language definition\n` : `✗ ${r.name}:\n  ${r.errors}\n`);
  process.exitCode = results.every((r) => r.valid) ? 0 : 1;
}
