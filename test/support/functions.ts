/**
 * Serves a runtime's functions the way Cloud Functions does: registered with
 * functions-framework, which serves each over a real socket on loopback. Every call builds
 * a new instance (its own caches and signer) from the given environment.
 */
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../shared/platform/config';
import type { LogEntry } from '../../shared/platform/log';
import { Runtime, type RuntimeOptions } from '../../shared/exchange/wiring';

export type FunctionName = 'exchangeIntegration' | 'exchangeAutojoin' | 'jwks';

export interface ServedFunctions {
  readonly runtime: Runtime;
  /** Log entries the instance wrote, in order. */
  readonly logs: LogEntry[];
  url(name: FunctionName): string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** host:port of a Datastore emulator other than the run's. */
  readonly datastoreEmulatorHost?: string;
  readonly secretManager?: () => SecretManagerServiceClient;
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
  /** Also print log entries (default: only captured). */
  readonly echoLogs?: boolean;
  /** Wraps the instance's Datastore access (to count lookups and queries). */
  readonly keyStore?: RuntimeOptions['keyStore'];
  /** The instance's clock for key checks. */
  readonly now?: () => Date;
}

let instances = 0;

export async function serveFunctions(env: Record<string, string>, options: ServeOptions = {}): Promise<ServedFunctions> {
  const logs: LogEntry[] = [];
  const runtime = new Runtime(loadConfig({ PROJECT_ID: process.env.PROJECT_ID, ...env }), {
    log: (entry) => {
      logs.push(entry);
      if (options.echoLogs) process.stdout.write(`${JSON.stringify(entry)}\n`);
    },
    ...(options.datastoreEmulatorHost ? { datastoreEmulatorHost: options.datastoreEmulatorHost } : {}),
    ...(options.secretManager ? { secretManager: options.secretManager } : {}),
    ...(options.compareBcrypt ? { compareBcrypt: options.compareBcrypt } : {}),
    ...(options.keyStore ? { keyStore: options.keyStore } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  // The same wiring as functions/<name>/index.ts, under names of this instance's own.
  instances += 1;
  const handlers: Record<FunctionName, Parameters<typeof http>[1]> = {
    exchangeIntegration: runtime.exchangeHandler('exchangeIntegration', 'integration'),
    exchangeAutojoin: runtime.exchangeHandler('exchangeAutojoin', 'autojoin'),
    jwks: runtime.jwksHandler('jwks'),
  };
  const servers = new Map<FunctionName, Server>();
  const urls = new Map<FunctionName, string>();
  for (const [name, handler] of Object.entries(handlers) as Array<[FunctionName, Parameters<typeof http>[1]]>) {
    const registered = `${name}-${instances}`;
    http(registered, handler);
    const server = getTestServer(registered);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.set(name, server);
    urls.set(name, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  }
  return {
    runtime,
    logs,
    url(name) {
      return urls.get(name) as string;
    },
    async close() {
      await Promise.all(
        [...servers.values()].map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}

export interface TokenBody {
  token: string;
  token_type: string;
  expires_in: number;
}

export async function readJson<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}
