/**
 * How the Google Cloud client libraries are constructed for token-admin and the local tools
 * (Datastore for operators' writes, Secret Manager for signing-key rotation): on an emulator
 * or local stand-in when one is named,
 * over plaintext gRPC and without credentials; else the library's defaults. Setting
 * `universeDomain` skips credential discovery, which would otherwise probe the metadata
 * server (and print a MetadataLookupWarning) even when talking to an emulator; a known
 * project id spares the library detecting it.
 *
 * The functions use no client library: they call Google's REST APIs (googleRest.ts), and
 * nothing they import imports this module.
 */
import type { DatastoreOptions } from '@google-cloud/datastore';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { grpc, type ClientOptions } from 'google-gax';
import { readSetting, SETTINGS } from './config';
import { splitHostPort } from './hostPort';

interface Where {
  readonly projectId?: string | undefined;
  /** host:port of an emulator or stand-in. */
  readonly emulatorHost?: string | undefined;
}

function common(where: Where): { projectId?: string } {
  return where.projectId ? { projectId: where.projectId } : {};
}

/** Plaintext, no credentials. */
function emulated(): { universeDomain: string; sslCreds: ClientOptions['sslCreds'] } {
  return { universeDomain: 'googleapis.com', sslCreds: grpc.credentials.createInsecure() };
}

/** For `new Datastore(…)`, which reads the port from `apiEndpoint` itself (`host:port`). */
export function datastoreOptions(where: Where): DatastoreOptions {
  if (!where.emulatorHost) return common(where);
  return { ...common(where), ...emulated(), apiEndpoint: where.emulatorHost };
}

/** For google-gax clients such as `new SecretManagerServiceClient(…)`: host and port apart. */
export function gaxClientOptions(where: Where): ClientOptions {
  if (!where.emulatorHost) return common(where);
  const { host, port } = splitHostPort(where.emulatorHost);
  return { ...common(where), ...emulated(), apiEndpoint: host, port };
}

/**
 * token-admin's Secret Manager client. SECRET_MANAGER_EMULATOR_HOST (host:port on loopback)
 * points it at a local stand-in over plaintext gRPC, as DATASTORE_EMULATOR_HOST does for
 * Datastore; it is refused for any other host, so secrets are never sent off the machine in
 * plaintext. The library is loaded here, on first use: most commands never need it.
 */
export function secretManagerClient(
  env: Readonly<Record<string, string | undefined>> = process.env,
): SecretManagerServiceClient {
  const emulator = readSetting(env, SETTINGS.secretManagerEmulatorHost);
  type Library = typeof import('@google-cloud/secret-manager');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  const { SecretManagerServiceClient } = require('@google-cloud/secret-manager') as Library;
  return new SecretManagerServiceClient(gaxClientOptions({ emulatorHost: emulator }));
}
