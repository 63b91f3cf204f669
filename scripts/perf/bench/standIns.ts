/**
 * What production's functions talk to, stood in for on loopback by the tests' own stand-ins
 * (test/support): a metadata server handing out access tokens, Datastore's REST API over
 * HTTPS in front of the emulator, checking each bearer token, and Secret Manager's REST API
 * over HTTPS holding the signing key under an alias. Both fronts present a certificate from a
 * throwaway CA that the functions trust through NODE_EXTRA_CA_CERTS.
 *
 * They run in a process of their own, not in the benchmark's: the Datastore front proxies
 * every lookup of a measured run, and on the benchmark's event loop that work would slow the
 * load generator for one phase only. Apart, its CPU can be read from /proc like a server's.
 * The process is the benchmark's own bundle started again with BENCH_ROLE=stand-ins
 * (bench.ts), so nothing else needs building; it prints its addresses as one JSON line on
 * stdout (never a token or a key) and stops on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { startDatastoreFront } from '../../../test/support/datastoreFront';
import { startFakeSecretManager } from '../../../test/support/fakeSecretManager';
import { startMetadataServer } from '../../../test/support/metadataServer';
import { testCertificates } from '../../../test/support/tls';
import { spawnGroup } from '../../dev/processGroup';
import { procStat } from './processTree';
import { SIGNING_KEY_ALIAS, signingKeySecret } from '../../dev/signingSecret';
import type { StandInAddresses } from './productionShape';

/** The variable, and its value, that make the benchmark's bundle serve the stand-ins instead. */
export const ROLE_VARIABLE = 'BENCH_ROLE';
export const STAND_INS_ROLE = 'stand-ins';

const EMULATOR_VARIABLE = 'BENCH_STAND_INS_EMULATOR';
const PROJECT_VARIABLE = 'BENCH_STAND_INS_PROJECT';
const KEY_FILE_VARIABLE = 'BENCH_STAND_INS_KEY_FILE';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`stand-ins: ${name} is not set`);
  return value;
}

/** The stand-ins' process: starts them, prints their addresses, serves until SIGTERM. */
export async function serveStandIns(): Promise<void> {
  const projectId = required(PROJECT_VARIABLE);
  const certificates = testCertificates();
  const [metadata, secrets] = await Promise.all([startMetadataServer({ projectId }), startFakeSecretManager()]);
  const checkToken = (token: string): boolean => metadata.isValid(token);
  const [front, secretManager] = await Promise.all([
    startDatastoreFront({ emulatorHost: required(EMULATOR_VARIABLE), checkToken }),
    secrets.https({ checkToken }),
  ]);
  const secret = signingKeySecret(projectId);
  secrets.createSecret(secret);
  const version = secrets.addVersion(secret, readFileSync(required(KEY_FILE_VARIABLE)));
  secrets.setAlias(secret, SIGNING_KEY_ALIAS, Number(version.slice(version.lastIndexOf('/') + 1)));

  let stopping = false;
  process.once('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    // exit() (not a signal's death) runs tls.ts's clean-up of the CA's directory.
    void Promise.allSettled([front.close(), metadata.close(), secrets.stop()]).then(() => process.exit(0));
  });
  const addresses: StandInAddresses = {
    metadataHost: metadata.host,
    datastoreHost: front.host,
    secretManagerHost: secretManager.host,
    caFile: certificates.caFile,
  };
  process.stdout.write(`${JSON.stringify(addresses)}\n`);
}

export interface StandIns {
  readonly addresses: StandInAddresses;
  readonly pid: number;
  /** CPU ms (user + system) the stand-ins' process has used; NaN once gone. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export interface StandInsOptions {
  /** The benchmark's bundle (dist/scripts/bench.js), started again in the stand-ins' role. */
  readonly script: string;
  readonly emulatorHost: string;
  readonly projectId: string;
  /** The private JWK the secret's one version holds (its alias `current` points at it). */
  readonly keyFile: string;
  readonly timeoutMs: number;
}

export async function startStandIns(options: StandInsOptions): Promise<StandIns> {
  let output = '';
  let announced: ((line: string) => void) | undefined;
  const firstLine = new Promise<string>((resolve) => (announced = resolve));
  const group = spawnGroup(process.execPath, [options.script], {
    env: {
      ...process.env,
      [ROLE_VARIABLE]: STAND_INS_ROLE,
      [EMULATOR_VARIABLE]: options.emulatorHost,
      [PROJECT_VARIABLE]: options.projectId,
      [KEY_FILE_VARIABLE]: options.keyFile,
    },
    onStdout: (chunk) => {
      if (output.includes('\n')) return;
      output += chunk.toString('utf8');
      const end = output.indexOf('\n');
      if (end >= 0) announced?.(output.slice(0, end));
    },
  });
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no addresses within ${options.timeoutMs} ms`)), options.timeoutMs);
    poll = setInterval(() => {
      const ended = group.exited();
      if (ended !== undefined) reject(new Error(`the process ended (${ended})`));
    }, 50);
  });
  let addresses: StandInAddresses;
  try {
    addresses = JSON.parse(await Promise.race([firstLine, failed])) as StandInAddresses;
  } catch (error) {
    await group.stop();
    throw new Error(`stand-ins: ${(error as Error).message}\n${group.stderr()}`, { cause: error });
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
  return {
    addresses,
    pid: group.pid,
    cpuMs: () => procStat(group.pid)?.cpuMs ?? Number.NaN,
    stop: () => group.stop(5000),
  };
}
