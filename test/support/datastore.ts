/**
 * Datastore helpers for integration tests: a client on the run's emulator and namespaces of
 * the test's own, so test files can run in parallel on one emulator without seeing each
 * other's entities.
 */
import { Datastore } from '@google-cloud/datastore';
import { randomBytes } from 'node:crypto';
import type { Namespaces } from '../../shared/keys/entities';

export function testDatastore(): Datastore {
  if (!process.env.DATASTORE_EMULATOR_HOST)
    throw new Error('DATASTORE_EMULATOR_HOST is not set: run the tests with npm test');
  return new Datastore({ projectId: process.env.PROJECT_ID });
}

export function uniqueNamespaces(label: string): Namespaces {
  const suffix = randomBytes(4).toString('hex');
  return { integrationNamespace: `ci-${label}-${suffix}`, platformNamespace: `pc-${label}-${suffix}` };
}

/** The configuration naming a test's namespaces, for the functions or the CLI. */
export function namespaceEnv(namespaces: Namespaces): Record<string, string> {
  return { CLIENT_INTEGRATION_NS: namespaces.integrationNamespace, PLATFORM_NS: namespaces.platformNamespace };
}
