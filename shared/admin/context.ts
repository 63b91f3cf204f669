/**
 * What every admin operation on Datastore shares: the context it runs in, how an owner id is
 * checked and an owner found, and the small readers of entity properties.
 *
 * Expected failures (a bad id, a missing owner, an integration that still has active keys)
 * are AdminErrors with a stable code, which the CLI prints as one line.
 */
import type { Datastore, Key, Transaction } from '@google-cloud/datastore';
import { isAcceptedOwnerId, isValidOwnerId } from '../keys/grammar';
import { KINDS, type KeyKind } from '../keys/kinds';
import { ownerKey, type Namespaces } from '../keys/entities';
import { AdminError } from './adminError';

export interface AdminContext {
  readonly datastore: Datastore;
  readonly namespaces: Namespaces;
  /** bcrypt cost for new keys (default 10). */
  readonly bcryptCost?: number;
  readonly now?: () => Date;
}

export type Entity = Record<string | symbol, unknown>;

/** A new integration or organisation gets an id of the strict shape. */
export function checkNewOwnerId(id: string, what: string): void {
  if (!isValidOwnerId(id)) {
    throw new AdminError(
      `${what} ${JSON.stringify(id)} is not valid: use 1 to 64 of A-Z a-z 0-9 _ - (not __…__)`,
      'invalid-argument',
    );
  }
}

/** An existing one may have any id the Go service (and its tool) accepted. */
export function checkOwnerId(id: string, what: string): void {
  if (!isAcceptedOwnerId(id)) {
    throw new AdminError(
      `${what} ${JSON.stringify(id)} is not valid: 1 to 64 bytes without a dot (not __…__)`,
      'invalid-argument',
    );
  }
}

export function isAlreadyExists(error: unknown): boolean {
  // gRPC ALREADY_EXISTS, as Datastore answers an insert of an existing key.
  return (error as { code?: unknown }).code === 6;
}

export function nowOf(ctx: AdminContext): Date {
  return (ctx.now ?? (() => new Date()))();
}

export function keyOf(ctx: AdminContext, entity: Entity): Key {
  return entity[ctx.datastore.KEY] as Key;
}

export function dateOf(value: unknown): Date | undefined {
  return value instanceof Date && !Number.isNaN(value.getTime()) ? value : undefined;
}

export function textOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export async function runQuery(ctx: AdminContext, query: ReturnType<Datastore['createQuery']>): Promise<Entity[]> {
  const [entities] = await ctx.datastore.runQuery(query);
  return entities as Entity[];
}

/**
 * The owner's entity; an AdminError if its id is malformed or it does not exist. Read in
 * `tx` when given (a key written in the same transaction must not outlive its owner).
 */
export async function getOwner(ctx: AdminContext, kind: KeyKind, ownerId: string, tx?: Transaction): Promise<Entity> {
  checkOwnerId(ownerId, KINDS[kind].ownerIdWord);
  const key = ownerKey(ctx.datastore, kind, ownerId, ctx.namespaces);
  const [owner] = (await (tx ? tx.get(key) : ctx.datastore.get(key))) as [Entity | undefined];
  if (!owner) throw new AdminError(`${KINDS[kind].ownerWord} ${ownerId} does not exist`, 'not-found');
  return owner;
}
