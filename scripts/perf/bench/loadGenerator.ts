/**
 * Closed-loop load on loopback: N connections (a keep-alive node:http Agent), each sending
 * its own POST again as soon as its previous answer is in. Latency per request from
 * process.hrtime; an error is any status but 200, or a socket error / 10 s timeout. The
 * server's CPU time comes from /proc/<pid>/stat (utime + stime) before and after, and so do
 * the emulator's and (for a production-shaped target) the stand-ins'.
 *
 * A target can be loaded in several slices (bench.ts alternates the fast servers in short
 * slices, so that drift in the machine's load hits them alike); the figures add up.
 */
import { Agent, request } from 'node:http';

export interface LoadTarget {
  readonly name: string;
  readonly port: number;
  /**
   * Connection n sends bodies[n % length]: distinct keys, so that concurrent requests cannot
   * share one bcrypt compare (the exchange shares identical ones). At least one.
   */
  readonly bodies: readonly Buffer[];
  /**
   * Headers of connection n's requests (the bench gives each connection a client address of
   * its own in `X-Forwarded-For`, as the load balancer writes it).
   */
  readonly headers?: (connection: number) => Readonly<Record<string, string>>;
  /** The server's CPU ms so far (NaN where unknown). */
  cpuMs(): number;
  /** The Datastore emulator's CPU ms so far (NaN where unknown): the work each request gave it. */
  emulatorCpuMs(): number;
  /**
   * The stand-ins' CPU ms so far (standIns.ts: the TLS front that proxies each Datastore call),
   * for a target that talks to them; absent otherwise.
   */
  frontCpuMs?(): number;
}

export interface LoadFigures {
  /** Responses (any status) and socket errors counted while recording. */
  requests: number;
  /** Non-200 answers plus socket errors. */
  errors: number;
  statuses: Record<string, number>;
  latenciesMs: number[];
  /** Wall-clock ms under load while recording, drains included. */
  activeMs: number;
  /** The server's CPU ms over those periods. */
  serverCpuMs: number;
  /** The emulator's CPU ms over those periods. */
  emulatorCpuMs: number;
  /** The stand-ins' CPU ms over those periods (NaN for a target without them). */
  frontCpuMs: number;
  /** This process's (the load generator's) CPU ms over those periods. */
  clientCpuMs: number;
}

const REQUEST_TIMEOUT_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Load {
  private agent: Agent;
  readonly figures: LoadFigures = {
    requests: 0,
    errors: 0,
    statuses: {},
    latenciesMs: [],
    activeMs: 0,
    serverCpuMs: 0,
    emulatorCpuMs: 0,
    frontCpuMs: 0,
    clientCpuMs: 0,
  };

  constructor(
    readonly target: LoadTarget,
    readonly connections: number,
  ) {
    if (target.bodies.length === 0) throw new Error(`${target.name}: no request body to send`);
    this.agent = this.newAgent();
  }

  private newAgent(): Agent {
    return new Agent({ keepAlive: true, maxSockets: this.connections, maxFreeSockets: this.connections });
  }

  /** What connection `connection` sends. */
  bodyOf(connection: number): Buffer {
    const { bodies } = this.target;
    return bodies[connection % bodies.length];
  }

  /** One request, as connection `connection` sends it; resolves with the status and body. */
  send(withBody = false, body: Buffer = this.bodyOf(0), connection = 0): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: '127.0.0.1',
          port: this.target.port,
          method: 'POST',
          path: '/',
          headers: {
            ...this.target.headers?.(connection),
            'Content-Type': 'application/json',
            'Content-Length': body.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          if (withBody) res.on('data', (chunk: Buffer) => chunks.push(chunk));
          else res.resume();
          res.once('end', () =>
            resolve({ status: res.statusCode ?? 0, body: withBody ? Buffer.concat(chunks).toString('utf8') : '' }),
          );
          res.once('error', reject);
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
      req.once('error', reject);
      req.end(body);
    });
  }

  /**
   * Keeps every connection busy for `ms`, then lets the requests in flight finish (at most
   * `drainMs`; past that they are cut off and not counted). With `record`, adds what it saw
   * to `figures` (without, it is a warm-up); `warmupMs` first runs that long unrecorded
   * within the same run, so the queue a slow server builds up is already there when
   * recording starts.
   */
  async run(ms: number, record: boolean, drainMs = 5000, warmupMs = 0): Promise<void> {
    const end = performance.now() + warmupMs + ms;
    let recording = record && warmupMs === 0;
    let started = performance.now();
    let cpuBefore = this.target.cpuMs();
    let emulatorBefore = this.target.emulatorCpuMs();
    let frontBefore = this.frontCpuMs();
    let clientBefore = process.cpuUsage();
    const warmup =
      record && warmupMs > 0
        ? setTimeout(() => {
            started = performance.now();
            cpuBefore = this.target.cpuMs();
            emulatorBefore = this.target.emulatorCpuMs();
            frontBefore = this.frontCpuMs();
            clientBefore = process.cpuUsage();
            recording = true;
          }, warmupMs)
        : undefined;
    let cut = false;
    const f = this.figures;
    const worker = async (index: number): Promise<void> => {
      const body = this.bodyOf(index);
      while (!cut && performance.now() < end) {
        const t0 = process.hrtime.bigint();
        const sentWhileRecording = recording;
        let status: number | undefined;
        try {
          status = (await this.send(false, body, index)).status;
        } catch {
          status = undefined;
        }
        if (cut || !recording) {
          if (status === undefined) await sleep(10);
          continue;
        }
        f.requests += 1;
        const latencyMs = Number(process.hrtime.bigint() - t0) / 1e6;
        // Latency of requests sent during the warm-up is still a true latency: keep it.
        if (status !== undefined || sentWhileRecording) f.latenciesMs.push(latencyMs);
        if (status !== 200) f.errors += 1;
        const key = status === undefined ? 'socket error' : String(status);
        f.statuses[key] = (f.statuses[key] ?? 0) + 1;
        if (status === undefined) await sleep(10);
      }
    };
    const workers = Promise.all(Array.from({ length: this.connections }, (_, index) => worker(index)));
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      workers.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), end - performance.now() + drainMs))),
    ]);
    clearTimeout(timer);
    clearTimeout(warmup);
    const stoppedAt = performance.now();
    const cpuAfter = this.target.cpuMs();
    const emulatorAfter = this.target.emulatorCpuMs();
    const frontAfter = this.frontCpuMs();
    const client = process.cpuUsage(clientBefore);
    if (!drained) {
      // Requests still waiting: cut them off (not counted) and start afresh.
      cut = true;
      this.agent.destroy();
      this.agent = this.newAgent();
      await workers;
    }
    if (record && recording) {
      f.activeMs += stoppedAt - started;
      f.serverCpuMs += cpuAfter - cpuBefore;
      f.emulatorCpuMs += emulatorAfter - emulatorBefore;
      f.frontCpuMs += frontAfter - frontBefore;
      f.clientCpuMs += (client.user + client.system) / 1000;
    }
  }

  private frontCpuMs(): number {
    return this.target.frontCpuMs?.() ?? Number.NaN;
  }

  close(): void {
    this.agent.destroy();
  }
}
