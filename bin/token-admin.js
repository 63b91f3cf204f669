#!/usr/bin/env node
// The token-admin command: runs the CLI that `npm run build` compiles from scripts/cli/main.ts, on
// the project's own Node (the `node` dev dependency, Node 24, as the functions run), whichever
// node started this file: `bin/token-admin.js …` under an older system Node needs no npm, so
// no npm warnings (npx, under Node 20, prints EBADENGINE lines before every command).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const projectNode = path.join(root, 'node_modules', 'node', 'bin', 'node');

function realpath(file) {
  try {
    return fs.realpathSync(file);
  } catch {
    return undefined;
  }
}

const target = realpath(projectNode);
if (target !== undefined && target !== realpath(process.execPath)) {
  const { spawnSync } = require('node:child_process');
  // stdio inherited: stdin (signing-key stage -), the key on stdout and the notes on stderr
  // pass straight through. Ctrl-C reaches both processes (one process group).
  const result = spawnSync(target, [__filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.error) {
    process.stderr.write(`token-admin: cannot run the project's Node (${target}): ${result.error.message}\n`);
    process.exit(1);
  }
  if (result.signal) process.kill(process.pid, result.signal);
  process.exit(result.status === null ? 1 : result.status);
}

const compiled = path.join(root, 'dist', 'scripts', 'cli.js');
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
