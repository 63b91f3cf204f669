/**
 * Integrations and organisations, the owners of API keys: creating, listing, showing and
 * deleting them, with the properties the Go service and autojoin read. Key counts come from
 * one query per kind (allKeysByOwner), not one per owner.
 */
import { decodeStoredKey, isUsable, KEY_STATUS, KIND, ownerKey } from '../keys/entities';
import { AdminError } from './adminError';
import {
  checkNewOwnerId,
  dateOf,
  getOwner,
  isAlreadyExists,
  keyOf,
  nowOf,
  runQuery,
  textOf,
  type AdminContext,
  type Entity,
} from './context';
import { allKeysByOwner, listApiKeys } from './keys/list';
import { keyAndUsageRecord, latestUse } from './keys/lastUse';
import type { KeyRecord } from './keys/records';

export async function createIntegration(ctx: AdminContext, integrationId: string, description = ''): Promise<void> {
  checkNewOwnerId(integrationId, 'integration id');
  const now = nowOf(ctx);
  try {
    await ctx.datastore.insert({
      key: ownerKey(ctx.datastore, 'integration', integrationId, ctx.namespaces),
      data: { created_at: now, description },
      excludeFromIndexes: ['description'],
    });
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`integration ${integrationId} already exists`, 'already-exists');
    throw error;
  }
}

export interface OrganizationInput {
  readonly name: string;
  readonly email?: string;
}

/** An autojoin organisation, with the properties the Go service and autojoin read. */
export async function createOrganization(ctx: AdminContext, input: OrganizationInput): Promise<void> {
  checkNewOwnerId(input.name, 'organisation name');
  const now = nowOf(ctx);
  try {
    await ctx.datastore.insert({
      key: ownerKey(ctx.datastore, 'autojoin', input.name, ctx.namespaces),
      data: {
        name: input.name,
        email: input.email ?? '',
        created_at: now,
        // autojoin reads it; a float, as the Go service writes it.
        probability_multiplier: ctx.datastore.double(1.0),
      },
    });
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`organisation ${input.name} already exists`, 'already-exists');
    throw error;
  }
}

export interface IntegrationRecord {
  readonly integrationId: string;
  readonly description: string;
  readonly createdAt: Date | undefined;
  /** Keys usable now. */
  readonly activeKeys: number;
  readonly totalKeys: number;
  /** The latest use of any of its keys; null: none used since recording began. */
  readonly lastUsedAt: Date | null;
}

export interface OrganizationRecord {
  readonly name: string;
  readonly email: string;
  readonly createdAt: Date | undefined;
  readonly probabilityMultiplier: number | undefined;
  readonly activeKeys: number;
  readonly totalKeys: number;
  readonly lastUsedAt: Date | null;
}

function integrationRecord(id: string, entity: Entity, keys: readonly KeyRecord[]): IntegrationRecord {
  return {
    integrationId: id,
    description: textOf(entity.description),
    createdAt: dateOf(entity.created_at),
    activeKeys: keys.filter((k) => k.status === KEY_STATUS.active).length,
    totalKeys: keys.length,
    lastUsedAt: latestUse(keys),
  };
}

function organizationRecord(name: string, entity: Entity, keys: readonly KeyRecord[]): OrganizationRecord {
  const multiplier = entity.probability_multiplier;
  return {
    name,
    email: textOf(entity.email),
    createdAt: dateOf(entity.created_at),
    probabilityMultiplier: typeof multiplier === 'number' ? multiplier : undefined,
    activeKeys: keys.filter((k) => k.status === KEY_STATUS.active).length,
    totalKeys: keys.length,
    lastUsedAt: latestUse(keys),
  };
}

export async function listIntegrations(ctx: AdminContext): Promise<IntegrationRecord[]> {
  const [metas, keys] = await Promise.all([
    runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.integrationNamespace, KIND.integration)),
    allKeysByOwner(ctx, 'integration'),
  ]);
  return metas
    .map((entity) => {
      const id = keyOf(ctx, entity).name as string;
      return integrationRecord(id, entity, keys.get(id) ?? []);
    })
    .sort((a, b) => a.integrationId.localeCompare(b.integrationId));
}

export async function showIntegration(
  ctx: AdminContext,
  integrationId: string,
): Promise<IntegrationRecord & { keys: KeyRecord[] }> {
  const entity = await getOwner(ctx, 'integration', integrationId);
  const keys = await listApiKeys(ctx, 'integration', integrationId);
  return { ...integrationRecord(integrationId, entity, keys), keys };
}

export async function listOrganizations(ctx: AdminContext): Promise<OrganizationRecord[]> {
  const [orgs, keys] = await Promise.all([
    runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.platformNamespace, KIND.organization)),
    allKeysByOwner(ctx, 'autojoin'),
  ]);
  return orgs
    .map((entity) => {
      const name = keyOf(ctx, entity).name as string;
      return organizationRecord(name, entity, keys.get(name) ?? []);
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function showOrganization(
  ctx: AdminContext,
  name: string,
): Promise<OrganizationRecord & { keys: KeyRecord[] }> {
  const entity = await getOwner(ctx, 'autojoin', name);
  const keys = await listApiKeys(ctx, 'autojoin', name);
  return { ...organizationRecord(name, entity, keys), keys };
}
/** Datastore commits at most 500 mutations. */
const MAX_MUTATIONS = 500;

/**
 * Deletes an integration and every key under it. While any key is still usable this is
 * refused unless `force`: deleting cuts off an integrator at once, which revoking says
 * more plainly.
 */
export async function deleteIntegration(
  ctx: AdminContext,
  integrationId: string,
  options: { force?: boolean } = {},
): Promise<{ deletedKeys: number }> {
  await getOwner(ctx, 'integration', integrationId);
  const owner = ownerKey(ctx.datastore, 'integration', integrationId, ctx.namespaces);
  const children = await runQuery(
    ctx,
    ctx.datastore.createQuery(ctx.namespaces.integrationNamespace, KIND.integrationKey).hasAncestor(owner),
  );
  const active = children.filter((entity) => isUsable(decodeStoredKey(entity), nowOf(ctx))).length;
  if (active > 0 && !options.force) {
    throw new AdminError(
      `integration ${integrationId} has ${active} active key${active === 1 ? '' : 's'}: ` +
        `revoke ${active === 1 ? 'it' : 'them'} first, or delete with --force`,
      'failed-precondition',
    );
  }
  const keys = children.map((entity) => keyOf(ctx, entity));
  const doomed = keys.flatMap((key) => keyAndUsageRecord(ctx, key));
  // Keys first, the integration last: an interrupted run leaves no key without its owner.
  for (let i = 0; i < doomed.length; i += MAX_MUTATIONS) await ctx.datastore.delete(doomed.slice(i, i + MAX_MUTATIONS));
  await ctx.datastore.delete(owner);
  return { deletedKeys: keys.length };
}
