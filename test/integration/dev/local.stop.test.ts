/**
 * `npm start` stops everything it started, however it is stopped: real processes (npm, the
 * local stack, the emulator's gcloud, shell script and java), real signals, and a check by
 * pid, by port (the stack's, the emulator's, the Secret Manager stand-in's) and by the
 * emulator's data dir that nothing is left. A Ctrl-C is a normal stop: the stack says so in
 * an INFO log line, not an ERROR.
 * npm starts the bundled stack with `exec`, as `npm start` does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../../scripts/dev/emulator';
import { buildLocalStack, type BuiltLocalStack } from '../../support/localStack';

let built: BuiltLocalStack;
let OUT: string;

beforeAll(async () => {
  built = await buildLocalStack('local-stop');
  OUT = built.dir;
  // A package whose start script is npm start's, minus the build: npm execs the stack.
  writeFileSync(
    join(OUT, 'package.json'),
    JSON.stringify({
      name: 'local-stop-test',
      private: true,
      scripts: { start: `exec ${process.execPath} scripts/local.js` },
    }),
  );
}, 60_000);

afterAll(() => built.remove());

/** Every process below `root`, read from /proc (gcloud's java included: it is a descendant). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    // A zombie has exited: only its entry waits for its parent.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Running {
  readonly npm: ChildProcess;
  readonly local: number;
  /** npm, the stack and everything below it, as they were once it served. */
  readonly pids: readonly number[];
  readonly port: number;
  readonly emulatorPort: number;
  readonly secretManagerPort: number;
  /** The emulator's data dir, which must not outlive it either. */
  readonly dataDir: string;
  /** What npm and the stack wrote on stdout so far. */
  stdout(): string;
}

/** `npm start` as a terminal runs it: a job in a process group of its own. */
async function startStack(): Promise<Running> {
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), npm_config_loglevel: 'error' };
  delete env.DATASTORE_EMULATOR_HOST;
  delete env.SIGNING_KEY_FILE;
  const npm = spawn('npm', ['start'], { cwd: OUT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  npm.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  npm.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // A start that fails here must not leave its stack running: the tests that stop it never would.
  const abandon = (why: string): Error => {
    try {
      process.kill(-(npm.pid as number), 'SIGINT');
    } catch {
      // already gone
    }
    return new Error(why);
  };
  const deadline = Date.now() + 90_000;
  while (!/export DATASTORE_EMULATOR_HOST=127\.0\.0\.1:(\d+)/.test(stdout)) {
    if (Date.now() > deadline || npm.exitCode !== null)
      throw abandon(`npm start did not come up:\n${stdout}\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const emulatorPort = Number(/export DATASTORE_EMULATOR_HOST=127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
  const secretManagerPort = Number(/export SECRET_MANAGER_EMULATOR_HOST=127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
  const pids = [npm.pid as number, ...descendants(npm.pid as number)];
  const local = pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('scripts/local.js')) as number;
  // An argument of gcloud's, not the text of the watchdog's script (which names the option too).
  const dataDir = pids
    .flatMap((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'))
    .find((arg) => arg.startsWith('--data-dir='))
    ?.slice('--data-dir='.length);
  if (dataDir === undefined || !existsSync(dataDir))
    throw abandon(`no emulator data dir among the stack's processes (${dataDir})`);
  return { npm, local, pids, port, emulatorPort, secretManagerPort, dataDir, stdout: () => stdout };
}

/** Waits until none of the stack's processes runs and neither port answers. */
async function expectAllGone(stack: Running): Promise<void> {
  const deadline = Date.now() + 30_000;
  let left = stack.pids.filter(alive);
  const ports = [stack.port, stack.emulatorPort, stack.secretManagerPort];
  const anyListening = async (): Promise<boolean> => (await Promise.all(ports.map(listening))).some(Boolean);
  while ((left.length > 0 || (await anyListening())) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    left = stack.pids.filter(alive);
  }
  const described = left.map((pid) => {
    try {
      return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120)}`;
    } catch {
      return String(pid);
    }
  });
  // Leave nothing behind for the next test, whatever the outcome.
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  expect(described).toEqual([]);
  for (const port of ports) expect(await listening(port)).toBe(false);
  expect(existsSync(stack.dataDir)).toBe(false);
}

describe('npm start stops everything it started', () => {
  it('the stack runs npm → local stack → watchdog → gcloud → java, and serves', async () => {
    const stack = await startStack();
    const commands = stack.pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    expect(commands.some((c) => c.includes('java'))).toBe(true);
    for (const port of [stack.port, stack.emulatorPort, stack.secretManagerPort])
      expect(await listening(port)).toBe(true);
    process.kill(-(stack.npm.pid as number), 'SIGINT');
    await expectAllGone(stack);
    const logs = stack
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs).toContainEqual({ severity: 'INFO', message: 'local stack stopping (SIGINT)' });
    expect(logs.filter((entry) => entry.severity === 'ERROR' || 'stack_trace' in entry)).toEqual([]);
  }, 150_000);

  it('SIGTERM to the npm pid alone (kill <npm pid>)', async () => {
    const stack = await startStack();
    process.kill(stack.npm.pid as number, 'SIGTERM');
    await expectAllGone(stack);
  }, 150_000);

  it('SIGHUP to the group (the terminal closed)', async () => {
    const stack = await startStack();
    process.kill(-(stack.npm.pid as number), 'SIGHUP');
    await expectAllGone(stack);
  }, 150_000);

  it('its parent dying (SIGKILL to npm, which passes nothing on)', async () => {
    const stack = await startStack();
    process.kill(stack.npm.pid as number, 'SIGKILL');
    await expectAllGone(stack);
  }, 150_000);

  it('the stack itself killed with SIGKILL: the watchdog stops the emulator', async () => {
    const stack = await startStack();
    process.kill(stack.local, 'SIGKILL');
    await expectAllGone(stack);
  }, 150_000);
});
