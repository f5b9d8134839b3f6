#!/usr/bin/env node
// The `so-backup` command (package.json "bin"): runs the TypeScript CLI through tsx.
require('tsx/cjs/api').register();
require('./so-backup.ts');
