#!/usr/bin/env bash
# npm test [-- JEST ARGS…]: jest in two runs, each suite on the Node its code runs on.
# - The suites that load the stack's state machines run on Lambda's Node (scripts/lambda-node.sh):
#   aws-local-stepfunctions declares Node >= 22 (local/cloud/step-functions-library.ts). They are
#   the suites that import the local cloud, the tests' cloud harness or the library's loader.
# - Every other suite runs on the user's Node (the one that runs npm), where the connector's and the
#   operator CLI's code runs for a user (their tests find Node-version differences there).
# JEST ARGS (file patterns, -t, --testPathIgnorePatterns …) go to both runs; the closing line
# "N passed, N failed[, N skipped]" adds up both runs (test/helpers/summary-reporter.js).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jest=node_modules/jest/bin/jest.js
on_lambda=$(grep -rlE "from '(\.\./)+(helpers/cloud-harness|local/cloud/(start-local-cloud|local-step-functions|step-functions-library))'" test --include='*.test.ts' | sort)
suites="$(pwd)/($(printf '%s\n' "$on_lambda" | sed 's/\./\\./g' | paste -sd'|'))\$"
totals=$(mktemp -d)
trap 'rm -rf "$totals"' EXIT
echo "== jest on the user's Node ($("${npm_node_execpath:-node}" --version)): every suite but those that load the state machines"
SO_BACKUP_TEST_TOTALS="$totals/user.json" "${npm_node_execpath:-node}" "$jest" "$@" --passWithNoTests --testPathIgnorePatterns="^$suites"
user=$?
echo "== jest on Lambda's Node (local/lambda-runtime): the suites that load the state machines"
SO_BACKUP_TEST_TOTALS="$totals/lambda.json" bash scripts/lambda-node.sh "$jest" "$@" --passWithNoTests --testPathIgnorePatterns="^(?!$suites)"
lambda=$?
"${npm_node_execpath:-node}" -e '
  const fs = require("node:fs");
  const sum = { passed: 0, failed: 0, skipped: 0 };
  for (const file of process.argv.slice(1)) {
    if (!fs.existsSync(file)) { sum.failed++; continue; } // a run that ended before its tests (a bad argument): counted as failed
    const t = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const k of Object.keys(sum)) sum[k] += t[k];
  }
  process.stdout.write(`\n${sum.passed} passed, ${sum.failed} failed${sum.skipped ? `, ${sum.skipped} skipped` : ""}\n`);
' "$totals/user.json" "$totals/lambda.json"
[ "$user" = 0 ] && [ "$lambda" = 0 ]
