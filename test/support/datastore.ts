/**
 * Datastore helpers for integration tests: a client on the run's emulator and namespaces of
 * the test's own, so test files can run in parallel on one emulator without seeing each
 * other's entities.
 */
import { Datastore } from '@google-cloud/datastore';
import { randomBytes } from 'node:crypto';
import type { Namespaces } from '../../shared/keys/entities';
import { datastoreRest } from '../../shared/exchange/datastoreRest';
import { lookupReader } from '../../shared/exchange/lookup';
import { datastoreOptions } from '../../shared/platform/googleClients';

/** A client on the run's emulator, or on another emulator of the test's own (`host:port`). */
export function testDatastore(emulatorHost = process.env.DATASTORE_EMULATOR_HOST): Datastore {
  if (!emulatorHost) throw new Error('DATASTORE_EMULATOR_HOST is not set: run the tests with npm test');
  // As token-admin makes its client: on the emulator without looking for credentials.
  return new Datastore(datastoreOptions({ projectId: process.env.PROJECT_ID, emulatorHost }));
}

/** The exchange's own key store (REST, as the functions read Datastore) on the run's emulator. */
export function testKeyStore(): ReturnType<typeof lookupReader> {
  return lookupReader(
    datastoreRest({
      projectId: process.env.PROJECT_ID,
      emulatorHost: process.env.DATASTORE_EMULATOR_HOST,
      timeoutMs: 5000,
    }),
  );
}

export function uniqueNamespaces(label: string): Namespaces {
  const suffix = randomBytes(4).toString('hex');
  return { integrationNamespace: `ci-${label}-${suffix}`, platformNamespace: `pc-${label}-${suffix}` };
}

/** The configuration naming a test's namespaces, for the functions or the CLI. */
export function namespaceEnv(namespaces: Namespaces): Record<string, string> {
  return { CLIENT_INTEGRATION_NS: namespaces.integrationNamespace, PLATFORM_NS: namespaces.platformNamespace };
}
