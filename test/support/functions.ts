/**
 * Serves a runtime's functions the way Cloud Functions does: registered with
 * functions-framework, which serves each over a real socket on loopback. Every call builds
 * a new instance (its own caches and signer) from the given environment.
 */
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../shared/platform/config';
import type { LogEntry } from '../../shared/platform/log';
import type { FunctionName } from '../../shared/platform/functions';
import { ExchangeInstance, type ExchangeOptions } from '../../shared/exchange/wiring';
import { jwksHandlerFor } from '../../shared/signing/jwksFunction';

export type { FunctionName };

export interface ServedFunctions {
  readonly exchange: ExchangeInstance;
  /** Log entries the instance wrote, in order. */
  readonly logs: LogEntry[];
  url(name: FunctionName): string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** host:port of a Datastore emulator other than the run's. */
  readonly datastoreEmulatorHost?: string;
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
  /** Also print log entries (default: only captured). */
  readonly echoLogs?: boolean;
  /** Wraps the instance's Datastore access (to count lookups and queries). */
  readonly keyStore?: ExchangeOptions['keyStore'];
  /** The instance's clock for key checks. */
  readonly now?: () => Date;
}

let instances = 0;

export async function serveFunctions(env: Record<string, string>, serve: ServeOptions = {}): Promise<ServedFunctions> {
  const logs: LogEntry[] = [];
  const config = loadConfig({
    PROJECT_ID: process.env.PROJECT_ID,
    DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST,
    ...env,
  });
  const options: ExchangeOptions = {
    log: (entry) => {
      logs.push(entry);
      if (serve.echoLogs) process.stdout.write(`${JSON.stringify(entry)}\n`);
    },
    ...(serve.datastoreEmulatorHost ? { datastoreEmulatorHost: serve.datastoreEmulatorHost } : {}),
    ...(serve.compareBcrypt ? { compareBcrypt: serve.compareBcrypt } : {}),
    ...(serve.keyStore ? { keyStore: serve.keyStore } : {}),
    ...(serve.now ? { now: serve.now } : {}),
  };
  const exchange = new ExchangeInstance(config, options);
  // The same wiring as functions/<name>/index.ts, under names of this instance's own.
  instances += 1;
  const handlers: Record<FunctionName, Parameters<typeof http>[1]> = {
    exchangeIntegration: exchange.handler('exchangeIntegration', 'integration'),
    exchangeAutojoin: exchange.handler('exchangeAutojoin', 'autojoin'),
    jwks: jwksHandlerFor(config, options),
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
    exchange,
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
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
