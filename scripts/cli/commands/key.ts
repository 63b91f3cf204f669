/** `token-admin key create|list|show|revoke|set-tier|reroll`: API keys of integrations and organisations. */
import { KEY_KINDS, KINDS, type KeyKind } from '../../../shared/keys/kinds';
import {
  allKeysByOwner,
  createApiKey,
  listApiKeys,
  rerollApiKey,
  revokeApiKey,
  setKeyTier,
  showApiKey,
  unusedSince,
  type KeyRecord,
  type KeyRef,
  type NewKey,
} from '../../../shared/admin/keys';
import { parseDuration, parseExpiry, parseWholeNumber, UsageError } from '../args';
import type { Command, Invocation, OptionSpec } from '../command';
import { formatTime, json, printable, table } from '../output';

const OWNER_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  integration: { type: 'string', value: 'id', description: 'the integration the key belongs to' },
  org: { type: 'string', value: 'name', description: 'the autojoin organisation the key belongs to' },
};

const EXPIRY_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'expires-in': {
    type: 'string',
    value: 'duration',
    description: 'the key stops working after this long: 90d, 24h, 30m (default: never)',
  },
  'expires-at': {
    type: 'string',
    value: 'time',
    description: 'the key stops working at this ISO 8601 time, e.g. 2026-12-31T00:00:00Z',
  },
};

export const SHOWN_ONCE_WARNING = 'This API key is shown only once: it cannot be shown again. Store it securely now.';

/** The owner a command names with its kind's option (--integration or --org); exactly one. */
function ownerOf(call: Invocation): { kind: KeyKind; ownerId: string } {
  const named = KEY_KINDS.flatMap((kind) => {
    const ownerId = call.values[KINDS[kind].ownerOption];
    return typeof ownerId === 'string' ? [{ kind, ownerId }] : [];
  });
  if (named.length > 1) throw new UsageError('give --integration or --org, not both');
  const [owner] = named;
  if (owner === undefined) throw new UsageError('say whose key: --integration <id> or --org <name>');
  return owner;
}

function refOf(call: Invocation): KeyRef {
  return { ...ownerOf(call), keyId: call.positionals[0] };
}

export function keyJson(record: KeyRecord): Record<string, unknown> {
  return {
    key_id: record.keyId,
    [KINDS[record.kind].ownerField]: record.ownerId,
    status: record.status,
    ...(KINDS[record.kind].hasTier && { tier: record.tier }),
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    revoked_at: record.revokedAt,
    description: record.description,
    ...(record.legacy && { legacy: true }),
    ...(record.inPlaintext && { in_plaintext: true }),
    ...(record.lastUsedAt !== undefined && { last_used_at: record.lastUsedAt }),
    ...(record.replacedBy !== undefined && { replaced_by: record.replacedBy }),
    ...(record.replaces !== undefined && { replaces: record.replaces }),
  };
}

/** LAST USED: the time, or `never` (since recording began); to within LAST_USED_RESOLUTION_SECONDS. */
function lastUsed(record: KeyRecord): string {
  return record.lastUsedAt ? formatTime(record.lastUsedAt) : 'never';
}

export function keyRows(records: readonly KeyRecord[], kind: KeyKind): string[][] {
  return records.map((r) => [
    printable(r.keyId),
    r.status,
    ...(KINDS[kind].hasTier ? [String(r.tier ?? 0)] : []),
    formatTime(r.createdAt),
    formatTime(r.expiresAt, 'never'),
    lastUsed(r),
    printable(r.description),
  ]);
}

export function keyTable(rows: string[][], kind: KeyKind): string {
  const tier = KINDS[kind].hasTier ? ['TIER'] : [];
  return table(['KEY ID', 'STATUS', ...tier, 'CREATED', 'EXPIRES', 'LAST USED', 'DESCRIPTION'], rows);
}

/** The one place a plaintext key is printed: once, with the warning that it will not be again. */
function printNewKey(call: Invocation, key: NewKey, details: Record<string, unknown>, summary: string): void {
  if (call.asJson) {
    call.out(
      json({
        api_key: key.apiKey,
        key_id: key.keyId,
        [KINDS[key.kind].ownerField]: key.ownerId,
        ...details,
        warning: SHOWN_ONCE_WARNING,
      }),
    );
    return;
  }
  call.note(`${summary}\n${SHOWN_ONCE_WARNING}\n`);
  call.out(`${key.apiKey}\n`);
}

/** `now` less a duration in seconds. */
function cutoff(call: Invocation, seconds: number): Date {
  return new Date(call.session.now().getTime() - seconds * 1000);
}

function describeOwner(kind: KeyKind, ownerId: string): string {
  return `${KINDS[kind].ownerWord} ${ownerId}`;
}

export const keyCommands: readonly Command[] = [
  {
    noun: 'key',
    verb: 'create',
    summary: 'Create an API key for an integration or an organisation; prints it once.',
    positionals: [0, 0],
    options: {
      ...OWNER_OPTIONS,
      tier: {
        type: 'string',
        value: 'n',
        description: 'tier carried in the tokens, integration keys only (default: 0)',
      },
      description: { type: 'string', value: 'text', description: 'what the key is for, for operators' },
      ...EXPIRY_OPTIONS,
      'key-id': { type: 'string', value: 'ki_…', description: 'the key id (default: random)' },
    },
    details: [
      'The API key goes to stdout (in --json, as api_key) and is stored nowhere: only a bcrypt',
      'hash of its secret is kept. It cannot be shown again; if it is lost, reroll the key.',
    ],
    examples: [
      'npx token-admin key create --integration speedtest-example --tier 1 --description production --expires-in 365d',
      'npx token-admin key create --org mlab-example --description "node fleet"',
    ],
    async run(call) {
      const owner = ownerOf(call);
      const tier = typeof call.values.tier === 'string' ? parseWholeNumber(call.values.tier, '--tier') : undefined;
      const expiresAt = parseExpiry(call.values, call.session.now());
      const keyId = typeof call.values['key-id'] === 'string' ? call.values['key-id'] : undefined;
      const description = typeof call.values.description === 'string' ? call.values.description : '';
      const key = await createApiKey(call.session.admin(), {
        ...owner,
        description,
        ...(tier !== undefined && { tier }),
        ...(expiresAt !== undefined && { expiresAt }),
        ...(keyId !== undefined && { keyId }),
      });
      const effectiveTier = KINDS[owner.kind].hasTier ? (tier ?? 0) : undefined;
      printNewKey(
        call,
        key,
        { ...(effectiveTier !== undefined && { tier: effectiveTier }), expires_at: expiresAt, description },
        `Created key ${key.keyId} for ${describeOwner(owner.kind, owner.ownerId)}` +
          `${effectiveTier !== undefined ? `, tier ${effectiveTier}` : ''}, expires ${formatTime(expiresAt, 'never')}.`,
      );
    },
  },
  {
    noun: 'key',
    verb: 'list',
    summary: "List an integration's or organisation's keys (never a key or its hash), or the keys unused for long.",
    positionals: [0, 0],
    options: {
      ...OWNER_OPTIONS,
      'unused-for': {
        type: 'string',
        value: 'duration',
        description: 'only active keys not used for this long, e.g. 90d (without an owner: every owner)',
      },
    },
    details: [
      'An organisation also lists its flat (Go-made) keys, migrated or not, as legacy_<first 16 hex of',
      'their SHA-256>; those whose plaintext entity still exists are marked "still in plaintext".',
      'LAST USED is the last successful exchange, to within LAST_USED_RESOLUTION_SECONDS (default 600 s);',
      '"never" means none since the functions began recording it.',
      '--unused-for lists active keys last used before then, or never used and made before then.',
    ],
    examples: [
      'npx token-admin key list --integration speedtest-example',
      'npx token-admin key list --org mlab-example --json',
      'npx token-admin key list --unused-for 90d',
    ],
    async run(call) {
      const unusedFor =
        typeof call.values['unused-for'] === 'string'
          ? parseDuration(call.values['unused-for'], '--unused-for')
          : undefined;
      const named = KEY_KINDS.some((kind) => typeof call.values[KINDS[kind].ownerOption] === 'string');
      if (unusedFor === undefined || named) {
        const owner = ownerOf(call);
        let records = await listApiKeys(call.session.admin(), owner.kind, owner.ownerId);
        if (unusedFor !== undefined) records = unusedSince(records, cutoff(call, unusedFor));
        if (call.asJson) call.out(json(records.map(keyJson)));
        else call.out(keyTable(keyRows(records, owner.kind), owner.kind));
        return;
      }
      // Every owner of both kinds: one query per kind.
      const byKind = await Promise.all(
        KEY_KINDS.map(async (kind) => {
          const owners = await allKeysByOwner(call.session.admin(), kind);
          return unusedSince([...owners.values()].flat(), cutoff(call, unusedFor));
        }),
      );
      const records = byKind.flat();
      if (call.asJson) {
        call.out(json(records.map(keyJson)));
        return;
      }
      call.out(
        table(
          ['OWNER', 'KEY ID', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED', 'DESCRIPTION'],
          records.map((r) => [
            `${KINDS[r.kind].ownerOption} ${printable(r.ownerId)}`,
            printable(r.keyId),
            r.status,
            formatTime(r.createdAt),
            formatTime(r.expiresAt, 'never'),
            lastUsed(r),
            printable(r.description),
          ]),
        ),
      );
    },
  },
  {
    noun: 'key',
    verb: 'show',
    summary: 'Show one key of an integration or organisation (never the key or its hash).',
    usage: '<key-id>',
    positionals: [1, 1],
    options: OWNER_OPTIONS,
    details: [
      'A key in its reroll grace period names its successor and says whether it has been used since',
      'the successor was made (to within LAST_USED_RESOLUTION_SECONDS); a successor names the key it replaces.',
    ],
    examples: [
      'npx token-admin key show --integration speedtest-example ki_custom',
      'npx token-admin key show --org mlab-example legacy_3f0c9e1a2b4d5c6e --json',
    ],
    async run(call) {
      const ref = refOf(call);
      const record = await showApiKey(call.session.admin(), ref);
      const successor = record.replacedBy
        ? await showApiKey(call.session.admin(), { ...ref, keyId: record.replacedBy }).catch(() => undefined)
        : undefined;
      // Used since its successor was made: the integrator has not switched yet.
      const usedSince =
        successor?.createdAt !== undefined
          ? record.lastUsedAt !== null &&
            record.lastUsedAt !== undefined &&
            record.lastUsedAt.getTime() >= successor.createdAt.getTime()
          : undefined;
      if (call.asJson) {
        call.out(json({ ...keyJson(record), ...(usedSince !== undefined && { used_since_replaced: usedSince }) }));
        return;
      }
      call.out(keyTable(keyRows([record], record.kind), record.kind));
      if (record.replaces) call.out(`\nreplaces ${printable(record.replaces)}\n`);
      if (record.replacedBy) {
        const made = successor?.createdAt ? ` (made ${formatTime(successor.createdAt)})` : '';
        const use =
          usedSince === undefined
            ? ''
            : usedSince
              ? `; used since then, last at ${lastUsed(record)}: the integrator has not switched yet`
              : '; not used since then';
        call.out(
          `\nreplaced by ${printable(record.replacedBy)}${made}${use}\n` +
            `works until ${formatTime(record.expiresAt, 'it is revoked')}\n`,
        );
      }
    },
  },
  {
    noun: 'key',
    verb: 'revoke',
    summary: 'Revoke a key: the next exchange with it is refused.',
    usage: '<key-id>',
    positionals: [1, 1],
    options: OWNER_OPTIONS,
    examples: ['npx token-admin key revoke --integration speedtest-example ki_1a2b3c4d5e6f7a8b'],
    async run(call) {
      const record = await revokeApiKey(call.session.admin(), refOf(call));
      if (call.asJson) call.out(json({ ...keyJson(record), already_revoked: record.alreadyRevoked }));
      else
        call.out(
          record.alreadyRevoked
            ? `key ${record.keyId} was already revoked\n`
            : `revoked key ${record.keyId} of ${describeOwner(record.kind, record.ownerId)}\n`,
        );
    },
  },
  {
    noun: 'key',
    verb: 'set-tier',
    summary: "Set the tier an integration key's tokens carry.",
    usage: '<key-id>',
    positionals: [1, 1],
    options: {
      integration: OWNER_OPTIONS.integration,
      tier: { type: 'string', value: 'n', description: 'the new tier, a whole number ≥ 0 (required)' },
    },
    examples: ['npx token-admin key set-tier --integration speedtest-example ki_1a2b3c4d5e6f7a8b --tier 2'],
    async run(call) {
      // Only integration keys have a tier: name only the option this command takes.
      if (typeof call.values.integration !== 'string')
        throw new UsageError('say whose key: --integration <id> (only integration keys have a tier)');
      if (typeof call.values.tier !== 'string') throw new UsageError('give the new tier with --tier <n>');
      const tier = parseWholeNumber(call.values.tier, '--tier');
      const record = await setKeyTier(call.session.admin(), refOf(call), tier);
      if (call.asJson) call.out(json(keyJson(record)));
      else call.out(`key ${record.keyId} of ${describeOwner(record.kind, record.ownerId)} now has tier ${tier}\n`);
    },
  },
  {
    noun: 'key',
    verb: 'reroll',
    summary: 'Replace a key with a new one; the old one keeps working through a grace period.',
    usage: '<key-id>',
    positionals: [1, 1],
    options: {
      ...OWNER_OPTIONS,
      grace: {
        type: 'string',
        value: 'duration',
        description: 'how long the old key keeps working (default: 24h; never past its own expiry)',
      },
      'expires-in': {
        type: 'string',
        value: 'duration',
        description: "the new key stops working after this long (default: the old key's lifetime, from now)",
      },
      'expires-at': {
        type: 'string',
        value: 'time',
        description: 'the new key stops working at this ISO 8601 time, e.g. 2026-12-31T00:00:00Z',
      },
      force: {
        type: 'boolean',
        description: 'reroll a key already rerolled and still in its grace period (a second successor)',
      },
    },
    details: [
      'The new key has the same owner, tier and description, and is printed once. The old key',
      "expires at the end of the grace period: the integrator's switch needs no outage.",
      "Expiry of the new key, unless --expires-in or --expires-at is given: the old key's lifetime",
      '(its expiry minus its creation) counted from now, so a key made with --expires-in 365d is',
      'renewed for 365 days; a key that never expired gets a key that never expires. To keep the',
      "old key's date instead, pass it as --expires-at.",
      'A key already rerolled and still in its grace period is refused (the message names its',
      'successor): reroll the successor, or pass --force for a second live successor.',
    ],
    examples: [
      'npx token-admin key reroll --integration speedtest-example ki_1a2b3c4d5e6f7a8b',
      'npx token-admin key reroll --org mlab-example legacy_3f0c9e1a2b4d5c6e --grace 7d',
    ],
    async run(call) {
      const graceSeconds =
        typeof call.values.grace === 'string' ? parseDuration(call.values.grace, '--grace') : undefined;
      const expiresAt = parseExpiry(call.values, call.session.now());
      const rerolled = await rerollApiKey(call.session.admin(), refOf(call), {
        ...(graceSeconds !== undefined && { graceSeconds }),
        ...(expiresAt !== undefined && { expiresAt }),
        ...(call.values.force === true && { force: true }),
      });
      const { newKey, oldKey } = rerolled;
      const why = {
        given: '',
        'same-lifetime': " (the old key's lifetime, from now)",
        'same-date': " (the old key's date)",
        never: '',
      }[rerolled.newKeyExpiry];
      printNewKey(
        call,
        newKey,
        {
          expires_at: rerolled.newKeyExpiresAt,
          expiry: rerolled.newKeyExpiry,
          replaces: { key_id: oldKey.keyId, expires_at: oldKey.expiresAt },
        },
        `Created key ${newKey.keyId} for ${describeOwner(newKey.kind, newKey.ownerId)}, ` +
          `expires ${formatTime(rerolled.newKeyExpiresAt, 'never')}${why}. ` +
          `The old key ${oldKey.keyId} keeps working until ${formatTime(oldKey.expiresAt)}.`,
      );
    },
  },
];
