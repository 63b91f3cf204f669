/**
 * Runs scripts/deploy/deploy.sh for the deploy tests: its dry run, read line by line, and its real
 * run against a stand-in `gcloud` that records every call (and what it read on stdin) and keeps
 * the project's resources between runs, so a second run meets what the first one made.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FUNCTION_NAMES } from '../../shared/platform/functions';

export const ROOT = join(__dirname, '..', '..');
export const FUNCTIONS = FUNCTION_NAMES;
export const AUTH_DOMAIN = 'auth.mlab-sandbox.measurementlab.net';

export const SETTINGS: Readonly<Record<string, string>> = {
  PROJECT_ID: 'mlab-sandbox',
  SERVICE_ACCOUNT: 'token-exchange',
  SIGNING_KEY_SECRET: 'token-exchange-signing-key',
};

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

export function deploy(
  args: string[],
  env: Record<string, string | undefined> = SETTINGS,
  script = join(ROOT, 'scripts', 'deploy', 'deploy.sh'),
  path = process.env.PATH,
): Run {
  // Only what is given: nothing leaks in from the test's own environment.
  const result = spawnSync('bash', [script, ...args], {
    env: { PATH: path, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    lines: result.stdout.split('\n').filter((line) => line !== ''),
  };
}

export const CHECK = '# check: ';
export const WHEN_FOUND = '# when found: ';
export const ELSE_STOP = '# else stop: ';

/** Every command line of a dry run: the plain lines, and the look-ups and updates it marks. */
export function shellLines(run: Run): string[] {
  return run.lines.flatMap((line) => {
    if (line.startsWith(CHECK)) return [line.slice(CHECK.length)];
    if (line.startsWith(WHEN_FOUND)) return [line.slice(WHEN_FOUND.length)];
    return line.startsWith('#') ? [] : [line];
  });
}

/** One word of shell, single-quoted. */
export function shellWord(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/**
 * A dry run as a bash script that runs it the way the README says to read it: each look-up
 * runs and decides the line under it (a plain line right under a `# check:` runs when the
 * look-up failed, each `# when found:` line when it succeeded, `# else stop:` stops with its
 * message and status 2 when it failed); any other line runs; a line that fails stops the
 * script (status 3), as `set -e` stops deploy.sh. Written apart from deploy.sh's own runner, so
 * the two agree only if the dry run says what the deploy does.
 */
export function dryRunScript(run: Run): string {
  const out = ['set -o pipefail', 'found=0'];
  run.lines.forEach((line, i) => {
    const underCheck = i > 0 && run.lines[i - 1].startsWith(CHECK);
    if (line.startsWith(CHECK)) {
      out.push(`if ( ${line.slice(CHECK.length)} ) >/dev/null 2>&1; then found=1; else found=0; fi`);
    } else if (line.startsWith(WHEN_FOUND)) {
      out.push(`if [ $found = 1 ]; then ( ${line.slice(WHEN_FOUND.length)} ) >/dev/null 2>&1 || exit 3; fi`);
    } else if (line.startsWith(ELSE_STOP)) {
      const message = shellWord(`deploy.sh: ${line.slice(ELSE_STOP.length)}`);
      out.push(`if [ $found = 0 ]; then echo ${message} >&2; exit 2; fi`);
    } else if (line.startsWith('#')) {
      throw new Error(`unexpected comment line: ${line}`);
    } else if (underCheck) {
      out.push(`if [ $found = 0 ]; then ( ${line} ) >/dev/null 2>&1 || exit 3; fi`);
    } else {
      out.push(`( ${line} ) >/dev/null 2>&1 || exit 3`);
    }
  });
  return out.join('\n');
}

/** `--name=value` flags of one printed command (unquoting a '…' value). */
export function flags(line: string): Map<string, string | true> {
  const found = new Map<string, string | true>();
  for (const match of line.matchAll(/(?:^| )(--[a-z0-9-]+)(?=[ =]|$)(?:=('[^']*'|\S*))?/g)) {
    const value = match[2];
    found.set(match[1], value === undefined ? true : value.replace(/^'(.*)'$/, '$1'));
  }
  return found;
}

export function commandLine(run: Run, prefix: string): string {
  const line = run.lines.find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`no line starting with "${prefix}" in:\n${run.stdout}`);
  return line;
}

export interface Call {
  args: string[];
  /** What the call read on stdin, where it reads a definition from there. */
  stdin?: string;
}

/** The project as the stand-in keeps it: each file of its state folder (a folder: ''), by path. */
export type Project = Record<string, string>;

/** Where a resource lives in the stand-in's state: `<group words joined by _>/<name>`. */
export function resourcePath(group: string, name: string): string {
  return `${group.replace(/ /g, '_')}/${name}`;
}

/**
 * A copy of the scripts beside empty bundles and the stand-in gcloud, and the project it keeps.
 * The project starts as the README's steps 2 to 4 leave it: the runtime service account, the
 * signing-key secret with its alias `current` on an enabled version, a Datastore-mode database.
 */
export class StandIn {
  readonly work = mkdtempSync(join(tmpdir(), 'deploy-'));
  readonly script = join(this.work, 'scripts', 'deploy', 'deploy.sh');
  readonly path = `${join(this.work, 'bin')}:${process.env.PATH}`;
  readonly state = join(this.work, 'state');
  private runs = 0;

  constructor() {
    mkdirSync(join(this.work, 'scripts', 'deploy'), { recursive: true });
    cpSync(join(ROOT, 'scripts', 'deploy', 'deploy.sh'), this.script);
    for (const folder of ['metrics', 'alerts']) {
      cpSync(join(ROOT, 'scripts', 'deploy', folder), join(this.work, 'scripts', 'deploy', folder), {
        recursive: true,
      });
    }
    for (const name of FUNCTIONS) {
      mkdirSync(join(this.work, 'dist', name), { recursive: true });
      writeFileSync(join(this.work, 'dist', name, 'index.js'), '');
    }
    mkdirSync(join(this.work, 'bin'));
    cpSync(join(__dirname, 'gcloudStandIn.sh'), join(this.work, 'bin', 'gcloud'));
    chmodSync(join(this.work, 'bin', 'gcloud'), 0o755);
    // A `sleep` that notes how long it was asked to wait, and returns at once: the deploy waits
    // between tries of an alert policy's create, and a test of that should not take minutes.
    writeFileSync(join(this.work, 'bin', 'sleep'), '#!/bin/sh\necho "$*" >> "$GCLOUD_LOG.sleep"\n');
    chmodSync(join(this.work, 'bin', 'sleep'), 0o755);
    this.restore({
      [`${resourcePath('iam service-accounts', 'token-exchange@mlab-sandbox.iam.gserviceaccount.com')}/`]: '',
      [`${resourcePath('secrets', 'token-exchange-signing-key')}/`]: '',
      [`${resourcePath('secrets versions', 'current@token-exchange-signing-key')}/state`]: 'ENABLED',
      [`${resourcePath('firestore databases', '(default)')}/type`]: 'DATASTORE_MODE',
    });
  }

  /**
   * deploy.sh for real (--skip-build), against the stand-in and the project as it is now; with
   * the seconds of each `sleep` it asked for.
   */
  run(env: Record<string, string>, args: string[] = ['--skip-build']): { run: Run; calls: Call[]; sleeps: string[] } {
    const log = this.newLog('gcloud');
    const run = deploy(
      args,
      { ...SETTINGS, ...env, GCLOUD_LOG: log, GCLOUD_STATE: this.state },
      this.script,
      this.path,
    );
    const sleeps = existsSync(`${log}.sleep`) ? readFileSync(`${log}.sleep`, 'utf8').trimEnd().split('\n') : [];
    return { run, calls: readCalls(log), sleeps };
  }

  /**
   * A dry run, run as dryRunScript reads it, in the copy against the same stand-in, on a copy of
   * `project`: what the real run from that project should do.
   */
  replay(dry: Run, project: Project): { status: number | null; stderr: string; calls: Call[] } {
    const log = this.newLog('replay');
    const state = mkdtempSync(join(this.work, 'replay-state-'));
    writeProject(state, project);
    const result = spawnSync('bash', ['-c', dryRunScript(dry)], {
      cwd: this.work,
      env: { PATH: this.path, HOME: process.env.HOME, GCLOUD_LOG: log, GCLOUD_STATE: state },
      encoding: 'utf8',
    });
    rmSync(state, { recursive: true, force: true });
    return { status: result.status, stderr: result.stderr, calls: readCalls(log) };
  }

  /** The stand-in gcloud called directly, as an operator would: to set a project up. */
  gcloud(...args: string[]): void {
    const result = spawnSync(join(this.work, 'bin', 'gcloud'), args, {
      env: { PATH: this.path, GCLOUD_LOG: this.newLog('setup'), GCLOUD_STATE: this.state },
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`stand-in gcloud ${args.join(' ')}: ${result.stderr}`);
  }

  /** The project now: every file and folder of the state, by path. */
  project(): Project {
    const out: Project = {};
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir).sort()) {
        const path = join(dir, entry);
        const key = relative(this.state, path);
        if (statSync(path).isDirectory()) {
          out[`${key}/`] = '';
          walk(path);
        } else out[key] = readFileSync(path, 'utf8');
      }
    };
    walk(this.state);
    return out;
  }

  /** Replaces the project with `project`. */
  restore(project: Project): void {
    rmSync(this.state, { recursive: true, force: true });
    writeProject(this.state, project);
  }

  dryRun(env: Record<string, string>): Run {
    return deploy(['--dry-run', '--skip-build'], { ...SETTINGS, ...env }, this.script, this.path);
  }

  remove(): void {
    rmSync(this.work, { recursive: true, force: true });
  }

  private newLog(kind: string): string {
    return join(this.work, `${kind}-${(this.runs += 1)}.log`);
  }
}

function writeProject(state: string, project: Project): void {
  mkdirSync(state, { recursive: true });
  for (const [path, content] of Object.entries(project)) {
    if (path.endsWith('/')) mkdirSync(join(state, path), { recursive: true });
    else {
      mkdirSync(join(state, path, '..'), { recursive: true });
      writeFileSync(join(state, path), content);
    }
  }
}

function readCalls(log: string): Call[] {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .trimEnd()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const parts = line.split('\x1f');
      const stdin = (parts.pop() as string).replace(/^stdin=/, '');
      return stdin === '' ? { args: parts } : { args: parts, stdin: Buffer.from(stdin, 'base64').toString('utf8') };
    });
}
