/** The two queries behind every key listing: an owner's key records, an organisation's flat-key records. */
import { PropertyFilter } from '@google-cloud/datastore';
import { KIND, namespaceFor, ownerKey } from '../../keys/entities';
import { KINDS, type KeyKind } from '../../keys/kinds';
import { runQuery, type AdminContext, type Entity } from '../context';

export async function keyEntitiesOf(ctx: AdminContext, kind: KeyKind, ownerId: string): Promise<Entity[]> {
  const query = ctx.datastore
    .createQuery(namespaceFor(kind, ctx.namespaces), KINDS[kind].keyKind)
    .hasAncestor(ownerKey(ctx.datastore, kind, ownerId, ctx.namespaces));
  return runQuery(ctx, query);
}

export async function legacyEntitiesOf(ctx: AdminContext, org: string): Promise<Entity[]> {
  const query = ctx.datastore
    .createQuery(ctx.namespaces.platformNamespace, KIND.legacyKey)
    .filter(new PropertyFilter('org', '=', org));
  return runQuery(ctx, query);
}
