/**
 * spawnGroup's processes never outlive what started them: stop() stops the whole group, a
 * leader that exits by itself takes its group with it, and a parent killed with SIGKILL
 * (which runs no code of ours) leaves nothing behind. Real processes, checked by pid.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { spawnGroup } from '../../../scripts/dev/processGroup';

const ROOT = join(__dirname, '../../..');
const PARENT = join(ROOT, 'dist', `test-process-group-${process.pid}.js`);

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return !alive(pid);
}

/** The first line a process prints, as a number. */
function firstNumber(stream: NodeJS.ReadableStream): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      const match = /^(\d+)\n/.exec(text);
      if (match) resolve(Number(match[1]));
    });
    stream.on('end', () => reject(new Error(`no pid in ${JSON.stringify(text)}`)));
  });
}

beforeAll(async () => {
  // A parent that starts a group running `sleep` and prints the sleep's pid.
  await build({
    stdin: {
      contents: `import { spawnGroup } from './scripts/dev/processGroup';
        const group = spawnGroup('sleep', ['300'], { env: {} as Record<string, string> });
        process.stdout.write(group.pid + '\\n');
        setInterval(() => undefined, 1000);`,
      resolveDir: ROOT,
      loader: 'ts',
    },
    outfile: PARENT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'warning',
  });
});

afterAll(() => rmSync(PARENT, { force: true }));

describe('spawnGroup', () => {
  it('ParentKilled_SIGKILL_GroupStopsToo', async () => {
    const parent = spawn(process.execPath, [PARENT], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sleeper = await firstNumber(parent.stdout as NodeJS.ReadableStream);
    expect(alive(sleeper)).toBe(true);
    parent.kill('SIGKILL');
    expect(await gone(sleeper)).toBe(true);
  });

  it('Stop_StopsTheLeaderAndWhatItStarted', async () => {
    const group = spawnGroup('sh', ['-c', 'sleep 300 & echo $!; wait'], {
      env: { PATH: process.env.PATH ?? '' },
      onStdout: () => undefined,
    });
    const grandchild = await firstNumber(group.child.stdout as NodeJS.ReadableStream);
    expect(alive(grandchild)).toBe(true);
    await group.stop();
    expect(group.exited()).toBeDefined();
    expect(await gone(grandchild)).toBe(true);
  });

  it('LeaderExitsByItself_WhatItLeftInTheGroupIsStopped', async () => {
    const group = spawnGroup('sh', ['-c', 'sleep 300 & echo $!'], { env: { PATH: process.env.PATH ?? '' } });
    const grandchild = await firstNumber(group.child.stdout as NodeJS.ReadableStream);
    expect(await gone(grandchild)).toBe(true);
    await group.stop();
  });
});
