/**
 * Autojoin keys as M-Lab's autojoin service mints them, outside this project: its `orgadm`
 * tool goes through the Go service's store (`store.AutojoinManager`), where `GenerateAPIKey`
 * is 32 random bytes, base64url without padding, and `CreateAPIKeyWithValue` writes
 * `APIKey/<the key>` under `Organization/<org>` in PLATFORM_NS, with properties `key` (the
 * same string) and `created_at`. It keeps doing so before and after the switch, so such
 * "flat" keys must keep working; the local stack seeds one so that operators can try them
 * and `token-admin autojoin migrate-legacy` on their own machine.
 */
import type { Datastore } from '@google-cloud/datastore';
import { generateSecret } from '../../shared/keys/grammar';
import { plaintextKeyKey, type Namespaces } from '../../shared/keys/entities';

/** `GenerateAPIKey`: 32 random bytes, base64url without padding (43 characters). */
export function generateFlatAutojoinKey(): string {
  return generateSecret();
}

/**
 * Writes `flatKey` under `org` exactly as `CreateAPIKeyWithValue` does. The organisation is
 * not checked or made here: orgadm makes it first, and so must the caller.
 */
export async function saveFlatAutojoinKey(
  datastore: Datastore,
  namespaces: Namespaces,
  org: string,
  flatKey: string,
  createdAt: Date = new Date(),
): Promise<void> {
  await datastore.save({
    key: plaintextKeyKey(datastore, org, flatKey, namespaces),
    data: { key: flatKey, created_at: createdAt },
  });
}
