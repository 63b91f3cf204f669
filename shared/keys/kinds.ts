/**
 * The two kinds of API key, in one table: everything that differs between an integration key
 * and an autojoin key is a field here, so code asks the table (KINDS[kind].…) rather than
 * branching on the kind, and a third kind would be one new row.
 */
import type { Config } from '../platform/config';

export type KeyKind = 'integration' | 'autojoin';

export interface KindInfo {
  /** After `mlabk.`: `cii_<integrationId>` or `org_<org>`. */
  readonly prefix: 'cii_' | 'org_';
  /** The Datastore kind of the owner entity (named by the owner id). */
  readonly ownerKind: 'IntegrationMeta' | 'Organization';
  /** The Datastore kind of a key record, a child of its owner (named by the key id). */
  readonly keyKind: 'IntegrationAPIKey' | 'APIKey';
  /** The setting (Config field) holding the namespace of both. */
  readonly namespaceSetting: 'integrationNamespace' | 'platformNamespace';
  /** The token's `aud`. */
  readonly audience: KeyKind;
  /** The setting holding the token's lifetime, in seconds. */
  readonly tokenTtlSetting: 'integrationTokenTtl' | 'autojoinTokenTtl';
  /** The claim naming the owner in a token. */
  readonly ownerClaim: 'int_id' | 'org';
  /** The owner, as operators read it: `integration speedtest-example`. */
  readonly ownerWord: 'integration' | 'organisation';
  /** What the owner id is called in messages. */
  readonly ownerIdWord: 'integration id' | 'organisation name';
  /** The CLI option naming the owner (`--integration <id>`, `--org <name>`). */
  readonly ownerOption: 'integration' | 'org';
  /** The field naming the owner in logs and in the CLI's JSON. */
  readonly ownerField: 'integration_id' | 'org';
  /** Whether its keys carry a tier (into their tokens). */
  readonly hasTier: boolean;
  /** Whether the Go service's flat keys (no prefix, no path) are of this kind. */
  readonly hasFlatKeys: boolean;
}

export const KINDS: Readonly<Record<KeyKind, KindInfo>> = {
  integration: {
    prefix: 'cii_',
    ownerKind: 'IntegrationMeta',
    keyKind: 'IntegrationAPIKey',
    namespaceSetting: 'integrationNamespace',
    audience: 'integration',
    tokenTtlSetting: 'integrationTokenTtl',
    ownerClaim: 'int_id',
    ownerWord: 'integration',
    ownerIdWord: 'integration id',
    ownerOption: 'integration',
    ownerField: 'integration_id',
    hasTier: true,
    hasFlatKeys: false,
  },
  autojoin: {
    prefix: 'org_',
    ownerKind: 'Organization',
    keyKind: 'APIKey',
    namespaceSetting: 'platformNamespace',
    audience: 'autojoin',
    tokenTtlSetting: 'autojoinTokenTtl',
    ownerClaim: 'org',
    ownerWord: 'organisation',
    ownerIdWord: 'organisation name',
    ownerOption: 'org',
    ownerField: 'org',
    hasTier: false,
    hasFlatKeys: true,
  },
};

export const KEY_KINDS = Object.keys(KINDS) as readonly KeyKind[];

export type Namespaces = Pick<Config, KindInfo['namespaceSetting']>;

/** The namespace of a kind's owners and key records. */
export function namespaceFor(kind: KeyKind, namespaces: Namespaces): string {
  return namespaces[KINDS[kind].namespaceSetting];
}
