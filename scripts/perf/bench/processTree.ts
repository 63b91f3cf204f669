/**
 * CPU used by a process and everything it started, from /proc: the emulator is a watchdog
 * that starts gcloud, which starts a shell script, which starts java, and gcloud moves
 * itself into a process group of its own, so neither the pid nor the group names java.
 * On this 2-core machine the emulator's CPU is taken from the same cores as the server's,
 * so the work a request gives it counts against the requests per second measured.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Stat {
  readonly ppid: number;
  readonly cpuMs: number;
}

function stat(pid: string): Stat | undefined {
  try {
    // Fields after the command name (which may hold spaces): ppid is the 4th, utime and stime the 14th, 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, cpuMs: ticks * 10 } : undefined; // USER_HZ 100
  } catch {
    return undefined; // gone since the directory was listed
  }
}

/** CPU ms (user + system) of `root` and its descendants now alive; NaN when `root` is gone. */
export function treeCpuMs(root: number): number {
  const stats = new Map<number, Stat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const found = stat(entry);
    if (found) stats.set(Number(entry), found);
  }
  if (!stats.has(root)) return Number.NaN;
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of stats) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let total = 0;
  const pending = [root];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    total += stats.get(pid)?.cpuMs ?? 0;
    pending.push(...(children.get(pid) ?? []));
  }
  return total;
}
