/**
 * CPU used by a process and everything it started, from /proc: the emulator is a watchdog
 * that starts gcloud, which starts a shell script, which starts java, and gcloud moves
 * itself into a process group of its own, so neither the pid nor the group names java.
 * On a machine with few cores the emulator's CPU is taken from the same cores as the
 * server's, so the work a request gives it counts against the requests per second measured.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  readonly ppid: number;
  /** CPU ms (user + system) used so far; 10 ms ticks. */
  readonly cpuMs: number;
}

/** A process's parent and CPU time from /proc/<pid>/stat; undefined when it is gone (or no /proc). */
export function procStat(pid: number | string): ProcStat | undefined {
  try {
    // Fields after the command name (which may hold spaces): ppid is the 4th, utime and stime the 14th, 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, cpuMs: ticks * 10 } : undefined; // USER_HZ 100
  } catch {
    return undefined; // gone (since the directory was listed), or no /proc
  }
}

/** CPU ms (user + system) of `root` and its descendants now alive; NaN when `root` is gone. */
export function treeCpuMs(root: number): number {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const found = procStat(entry);
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
