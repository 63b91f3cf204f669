#!/usr/bin/env node
// The token-admin command: runs the CLI that `npm run build` compiles from scripts/cli.ts.
'use strict';
const path = require('node:path');

const compiled = path.join(__dirname, '..', 'dist', 'scripts', 'cli.js');
let cli;
try {
  cli = require(compiled);
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(compiled)) {
    process.stderr.write('token-admin: the CLI is not built yet: run npm run build\n');
    process.exit(1);
  }
  throw error;
}
cli.run();
