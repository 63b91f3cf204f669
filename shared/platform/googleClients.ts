/**
 * How the Google Cloud client libraries are constructed (Datastore for operators' writes,
 * Secret Manager for the signing key): on an emulator or local stand-in when one is named,
 * over plaintext gRPC and without credentials; else the library's defaults. Setting
 * `universeDomain` skips credential discovery, which would otherwise probe the metadata
 * server (and print a MetadataLookupWarning) even when talking to an emulator; a known
 * project id spares the library detecting it.
 *
 * The exchange's own Datastore reads use no client library (exchange/datastoreRest.ts).
 */
import type { DatastoreOptions } from '@google-cloud/datastore';
import type { ClientOptions } from 'google-gax';
import { splitHostPort } from './hostPort';

interface Where {
  readonly projectId?: string | undefined;
  /** host:port of an emulator or stand-in. */
  readonly emulatorHost?: string | undefined;
}

function common(where: Where): { projectId?: string } {
  return where.projectId ? { projectId: where.projectId } : {};
}

/** Plaintext, no credentials: gRPC loaded only for an emulator (googleLibraries.ts says why). */
function emulated(): { universeDomain: string; sslCreds: ClientOptions['sslCreds'] } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  const { grpc } = require('./googleLibraries') as typeof import('./googleLibraries');
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
