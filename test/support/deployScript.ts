/**
 * Runs scripts/deploy/deploy.sh for the deploy tests: its dry run, read line by line, and its real
 * run against a stand-in `gcloud` that records every call (and what it read on stdin).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** Every command line of a dry run: the plain lines, and the look-ups and updates it marks. */
export function shellLines(run: Run): string[] {
  return run.lines.flatMap((line) => {
    if (line.startsWith(CHECK)) return [line.slice(CHECK.length)];
    if (line.startsWith(WHEN_FOUND)) return [line.slice(WHEN_FOUND.length)];
    return line.startsWith('#') ? [] : [line];
  });
}

/** The lines a run executes, read from the dry run: all resources absent, or all present. */
export function linesRunWhen(run: Run, resources: 'absent' | 'present'): string[] {
  const out: string[] = [];
  run.lines.forEach((line, i) => {
    const afterCheck = i > 0 && run.lines[i - 1].startsWith(CHECK);
    if (line.startsWith(CHECK)) out.push(line.slice(CHECK.length));
    else if (line.startsWith(WHEN_FOUND)) {
      if (resources === 'present') out.push(line.slice(WHEN_FOUND.length));
    } else if (line.startsWith('#')) throw new Error(`unexpected comment line: ${line}`);
    else if (!(afterCheck && resources === 'present')) out.push(line);
  });
  return out;
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

/**
 * A copy of the scripts beside empty bundles and a stand-in gcloud. The stand-in records each
 * call; with STANDIN_FOUND=1 every `describe` finds its resource (the backend services list
 * their own network endpoint group, dashboards have an etag), otherwise only what the same run
 * created does.
 */
export class StandIn {
  readonly work = mkdtempSync(join(tmpdir(), 'deploy-'));
  readonly script = join(this.work, 'scripts', 'deploy', 'deploy.sh');
  readonly path = `${join(this.work, 'bin')}:${process.env.PATH}`;
  private runs = 0;

  constructor() {
    mkdirSync(join(this.work, 'scripts', 'deploy'), { recursive: true });
    cpSync(join(ROOT, 'scripts', 'deploy', 'deploy.sh'), this.script);
    cpSync(join(ROOT, 'scripts', 'deploy', 'metrics'), join(this.work, 'scripts', 'deploy', 'metrics'), {
      recursive: true,
    });
    for (const name of FUNCTIONS) {
      mkdirSync(join(this.work, 'dist', name), { recursive: true });
      writeFileSync(join(this.work, 'dist', name, 'index.js'), '');
    }
    mkdirSync(join(this.work, 'bin'));
    writeFileSync(
      join(this.work, 'bin', 'gcloud'),
      [
        '#!/usr/bin/env bash',
        // Builtins only (bar base64 for the few calls that read stdin): it runs ~70 times a deploy.
        'stdin=',
        'if [[ " $* " == *" --config-from-file=- "* || "$2 $3" == "url-maps import" ]]; then stdin="$(base64 -w0)"; fi',
        'entry=; for a in "$@"; do entry+="$a"$\'\\x1f\'; done',
        'printf \'%sstdin=%s\\n\' "$entry" "$stdin" >> "$GCLOUD_LOG"   ' +
          '# one write: concurrent calls in a pipeline do not interleave',
        // What this run made (so a describe after the create finds it): a file per resource.
        'args=("$@"); for ((i = 0; i < $#; i++)); do ' +
          'case "${args[i]}" in create|update|import|add-backend|deploy|describe) break ;; esac; done',
        'verb="${args[i]}"; key="${args[*]:0:i} ${args[i+1]}"; made="$GCLOUD_LOG.d/${key// /_}"',
        'case "$verb" in',
        '  create|import|deploy) : > "$made" ;;',
        '  add-backend) : > "$made.backend" ;;',
        '  describe)',
        '    [ "${STANDIN_FOUND:-}" = 1 ] || [ -e "$made" ] || exit 1',
        '    [[ " $* " == *" --format=value(etag) "* ]] && echo etag-from-describe',
        '    if [[ " $* " == *" --format=value(backends[].group) "* ]] && ' +
          '{ [ "${STANDIN_FOUND:-}" = 1 ] || [ -e "$made.backend" ]; }; then',
        '      echo "https://www.googleapis.com/compute/v1/projects/p/regions/r/networkEndpointGroups/${args[i+1]}"',
        '    fi ;;',
        'esac',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(join(this.work, 'bin', 'gcloud'), 0o755);
  }

  /** deploy.sh for real (--skip-build), against the stand-in: its status and its calls. */
  run(env: Record<string, string>, found: boolean, args: string[] = ['--skip-build']): { run: Run; calls: Call[] } {
    const log = this.newLog('gcloud');
    const run = deploy(
      args,
      { ...SETTINGS, ...env, GCLOUD_LOG: log, ...(found ? { STANDIN_FOUND: '1' } : {}) },
      this.script,
      this.path,
    );
    return { run, calls: readCalls(log) };
  }

  /** The given shell lines, each in its own subshell of one bash in the copy, against the same stand-in. */
  replay(lines: string[], found: boolean): Call[] {
    const log = this.newLog('replay');
    spawnSync('bash', ['-c', lines.map((line) => `( ${line} ) >/dev/null 2>&1 || true`).join('\n')], {
      cwd: this.work,
      env: { PATH: this.path, HOME: process.env.HOME, GCLOUD_LOG: log, ...(found ? { STANDIN_FOUND: '1' } : {}) },
    });
    return readCalls(log);
  }

  private newLog(kind: string): string {
    const log = join(this.work, `${kind}-${(this.runs += 1)}.log`);
    mkdirSync(`${log}.d`);
    return log;
  }

  dryRun(env: Record<string, string>): Run {
    return deploy(['--dry-run', '--skip-build'], { ...SETTINGS, ...env }, this.script, this.path);
  }

  remove(): void {
    rmSync(this.work, { recursive: true, force: true });
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
