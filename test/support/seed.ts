import type { Datastore } from '@google-cloud/datastore';
import { randomBytes } from 'node:crypto';
import { formatApiKey, generateKeyId, generateSecret } from '../../shared/keys/grammar';
import { apiKeyKey } from '../../shared/keys/entities';
import type { Namespaces } from '../../shared/keys/entities';
import { createApiKey, type NewKeyInput } from '../../shared/admin/keys';
import { createIntegration, createOrganization } from '../../shared/admin/owners';
import { sha256Hex } from '../../shared/keys/secretHash';

/** Low bcrypt cost keeps the suite fast; the exchange reads the cost from the hash. */
const TEST_BCRYPT_COST = 4;

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function newIntegrationKey(
  datastore: Datastore,
  namespaces: Namespaces,
  input: Partial<NewKeyInput> = {},
): Promise<string> {
  const integrationId = input.ownerId ?? uniqueId('int');
  if (input.ownerId === undefined) await createIntegration({ datastore, namespaces }, integrationId, 'test');
  const created = await createApiKey(
    { datastore, namespaces, bcryptCost: TEST_BCRYPT_COST },
    { kind: 'integration', ...input, ownerId: integrationId },
  );
  return created.apiKey;
}

export async function newAutojoinKey(
  datastore: Datastore,
  namespaces: Namespaces,
  input: Partial<NewKeyInput> = {},
): Promise<string> {
  const org = input.ownerId ?? uniqueId('org');
  if (input.ownerId === undefined)
    await createOrganization({ datastore, namespaces }, { name: org, email: 'ops@example.org' });
  const created = await createApiKey(
    { datastore, namespaces, bcryptCost: TEST_BCRYPT_COST },
    { kind: 'autojoin', ...input, ownerId: org },
  );
  return created.apiKey;
}

/** An integration key exactly as the Go service writes it: hex SHA-256, no tier. */
export async function goServiceIntegrationKey(
  datastore: Datastore,
  namespaces: Namespaces,
): Promise<{ apiKey: string; integrationId: string; keyId: string }> {
  const integrationId = uniqueId('go');
  const keyId = generateKeyId();
  const secret = generateSecret();
  await createIntegration({ datastore, namespaces }, integrationId, 'made by the Go service');
  await datastore.save({
    key: apiKeyKey(datastore, 'integration', integrationId, keyId, namespaces),
    data: { key_hash: sha256Hex(secret), created_at: new Date(), description: 'go', status: 'active' },
  });
  return { apiKey: formatApiKey({ kind: 'integration', ownerId: integrationId, keyId, secret }), integrationId, keyId };
}
