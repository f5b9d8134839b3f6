#!/usr/bin/env node
// The `so-backup` command (package.json "bin"): runs the TypeScript CLI through tsx.
// The SDK's notice about its future Node.js requirement is for developers, not for operators.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs/api').register();
require('./so-backup.ts');
