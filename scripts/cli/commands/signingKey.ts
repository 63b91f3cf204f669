/** `token-admin signing-key generate|stage|promote|retire|list`: rotating the signing key. */
import { readFile, writeFile } from 'node:fs/promises';
import {
  DEFAULT_SIGNING_ALGORITHM,
  espv2Warning,
  generateSigningKey,
  type SigningAlgorithm,
} from '../../../shared/signing/signingKey';
import {
  listSigningKeys,
  retirementDelaySeconds,
  promoteSigningKey,
  retireSigningKey,
  stageSigningKey,
  type SigningKeyAdminContext,
  type SigningKeyVersion,
} from '../../../shared/admin/signingKeyRotation';
import { publicationDelaySeconds } from '../../../shared/admin/rotationRules';
import { loadTimingSettings, SETTINGS, type TimingSettings } from '../../../shared/platform/config';
import { parseWholeNumber, UsageError } from '../args';
import type { Command, Invocation } from '../command';
import { formatTime, json, printable, table } from '../output';

const ALGORITHMS: readonly SigningAlgorithm[] = ['EdDSA', 'ES256', 'RS256'];

/** `--alg`, RS256 when not given. */
function algorithmOf(call: Invocation): SigningAlgorithm {
  const alg = call.values.alg;
  if (alg === undefined) return DEFAULT_SIGNING_ALGORITHM;
  if (!ALGORITHMS.includes(alg as SigningAlgorithm))
    throw new UsageError(`--alg is one of ${ALGORITHMS.join(', ')}, got ${JSON.stringify(alg)}`);
  return alg as SigningAlgorithm;
}

/** One line on stderr for a key ESPv2 cannot verify. */
function warnIfNotRsa(call: Invocation, alg: SigningAlgorithm): void {
  const warning = espv2Warning(alg);
  if (warning !== undefined) call.note(`${warning}\n`);
}

async function readJwk(call: Invocation, source: string): Promise<string> {
  if (source !== '-') return readFile(source, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of call.io.stdin ?? process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function versionOf(text: string | boolean | undefined, option: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const version = parseWholeNumber(text, option);
  if (version < 1) throw new UsageError(`${option} is a version number (1 or more)`);
  return version;
}

/** The settings the rotation's waits are made of, in the order the note names them. */
const TIMING_SETTINGS: ReadonlyArray<readonly [keyof TimingSettings, string]> = [
  ['jwksRefreshSeconds', SETTINGS.jwksRefreshSeconds.name],
  ['jwksMaxAgeSeconds', SETTINGS.jwksMaxAgeSeconds.name],
  ['signingKeyRefreshSeconds', SETTINGS.signingKeyRefreshSeconds.name],
  ['integrationTokenTtl', SETTINGS.integrationTokenTtl.name],
  ['autojoinTokenTtl', SETTINGS.autojoinTokenTtl.name],
];

/**
 * One line saying that the rotation's waits are not production's, and which settings made
 * them so, when any timing setting differs from its default (the local stack exports short
 * ones, so a rehearsal takes seconds): an operator must not learn production's waits from a
 * rehearsal, nor mistake a shell with stray settings for production's. Undefined on the defaults.
 */
export function timingNote(timing: TimingSettings): string | undefined {
  const defaults = loadTimingSettings({});
  const changed = TIMING_SETTINGS.filter(([field]) => timing[field] !== defaults[field]);
  if (changed.length === 0) return undefined;
  const shorter = changed.every(([field]) => timing[field] < defaults[field]);
  const production = `${publicationDelaySeconds(defaults)} s and ${retirementDelaySeconds(defaults)} s`;
  return (
    `note: waits ${shorter ? 'shortened' : 'changed'} by ` +
    `${changed.map(([field, name]) => `${name}=${timing[field]}`).join(', ')}: ` +
    `promote after ${publicationDelaySeconds(timing)} s, retire after ${retirementDelaySeconds(timing)} s; ` +
    `production (the defaults) waits ${production}`
  );
}

/** The Secret Manager context of a rotation command, with the note on its waits when they are not production's. */
function rotationContext(call: Invocation): SigningKeyAdminContext {
  const ctx = call.session.signingKeys();
  const note = timingNote(ctx.timing);
  if (note !== undefined) call.note(`${note}\n`);
  return ctx;
}

function next(version: SigningKeyVersion): string {
  if (version.promotableAt) return `promote after ${formatTime(version.promotableAt)}`;
  if (version.retirableAt) return `retire after ${formatTime(version.retirableAt)}`;
  return '';
}

export const signingKeyCommands: readonly Command[] = [
  {
    noun: 'signing-key',
    verb: 'generate',
    summary: 'Make a new private JWK (with kid) for stage, to stdout or a file.',
    positionals: [0, 0],
    options: {
      alg: {
        type: 'string',
        value: 'RS256|ES256|EdDSA',
        description: 'the algorithm (default: RS256, the one ESPv2 in front of Locate verifies)',
      },
      out: { type: 'string', value: 'file', description: 'write to this new file (mode 0600) instead of stdout' },
    },
    details: ['Or skip the file: signing-key stage (without a file) generates and stages in one step.'],
    examples: ['npx token-admin signing-key generate --out signing-key.jwk.json'],
    async run(call) {
      const alg = algorithmOf(call);
      warnIfNotRsa(call, alg);
      const jwk = await generateSigningKey(alg);
      const out = call.values.out;
      if (typeof out === 'string') {
        // `wx`: never overwrite, so an existing key is not lost by a typo.
        await writeFile(out, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
        if (call.asJson) call.out(json({ kid: jwk.kid, alg, file: out }));
        else call.out(`wrote a private ${alg} JWK, kid ${jwk.kid}, to ${out}\n`);
        return;
      }
      if (call.io.stdout.isTTY)
        call.note(
          'warning: this is a private key; redirect it to a file (or use --out) rather than leave it on screen\n',
        );
      call.out(`${JSON.stringify(jwk)}\n`);
    },
  },
  {
    noun: 'signing-key',
    verb: 'stage',
    summary: 'Add a private JWK as a new secret version: published by jwks, not yet signing.',
    usage: '[<jwk-file> | -]',
    positionals: [0, 1],
    options: {
      alg: {
        type: 'string',
        value: 'RS256|ES256|EdDSA',
        description: 'without a file: generate a key of this algorithm (default: RS256)',
      },
      'allow-non-rsa': {
        type: 'boolean',
        description: 'stage an EdDSA or ES256 key although ESPv2 (in front of Locate) cannot verify it',
      },
    },
    details: [
      'Without a file, generates a new RS256 key (or --alg) and stages it. Refuses anything that is',
      'not a usable private JWK, a key that is not RS256 (unless --allow-non-rsa), a kid the secret',
      'already has, and a secret whose signers do not read the alias yet. Promote the new version once',
      'it has been published longer than verifiers may cache the JWKS (JWKS_MAX_AGE_SECONDS, 3600 s',
      'unless set, + JWKS_REFRESH_SECONDS).',
    ],
    secretManager: true,
    examples: [
      'npx token-admin signing-key stage --secret projects/mlab-sandbox/secrets/token-exchange-signing-key',
      'npx token-admin signing-key stage signing-key.jwk.json',
    ],
    async run(call) {
      const source = call.positionals[0];
      if (source !== undefined && call.values.alg !== undefined)
        throw new UsageError('give a JWK file (or - for stdin), or --alg to generate one, not both');
      const jwkText =
        source === undefined
          ? JSON.stringify(await generateSigningKey(algorithmOf(call)))
          : await readJwk(call, source);
      const ctx = rotationContext(call);
      const allowNonRsa = call.values['allow-non-rsa'] === true;
      const staged = await stageSigningKey(ctx, jwkText, { allowNonRsa });
      warnIfNotRsa(call, staged.alg);
      if (call.asJson) {
        call.out(
          json({ version: staged.version, kid: staged.kid, alg: staged.alg, promotable_at: staged.promotableAt }),
        );
        return;
      }
      call.out(
        `staged version ${staged.version} (${staged.alg}, kid ${printable(staged.kid)}): ` +
          `jwks publishes it within ${ctx.timing.jwksRefreshSeconds} s; ` +
          `promote it after ${formatTime(staged.promotableAt)}\n`,
      );
    },
  },
  {
    noun: 'signing-key',
    verb: 'promote',
    summary: 'Move the alias to the staged version: instances sign with it from their next re-read.',
    positionals: [0, 0],
    options: {
      version: { type: 'string', value: 'n', description: 'the version to promote (default: the newest staged one)' },
      force: { type: 'boolean', description: 'promote even if verifiers may not have fetched it yet' },
    },
    details: [
      'Refused until the version has been published longer than verifiers may cache the JWKS, unless',
      '--force. Records when the previous version stopped signing, for retire. Instances re-read the',
      'alias every SIGNING_KEY_REFRESH_SECONDS (default 300): no redeploy is needed.',
    ],
    secretManager: true,
    examples: [
      'npx token-admin signing-key promote',
      'npx token-admin signing-key promote --version 1 --force   # first key of a new secret',
    ],
    async run(call) {
      const version = versionOf(call.values.version, '--version');
      const ctx = rotationContext(call);
      const promoted = await promoteSigningKey(ctx, {
        ...(version !== undefined && { version }),
        force: call.values.force === true,
      });
      if (call.asJson) {
        call.out(
          json({
            version: promoted.version,
            kid: promoted.kid,
            alias: ctx.alias,
            previous: promoted.previous,
            forced: promoted.forced,
          }),
        );
        return;
      }
      call.out(
        `${ctx.alias} is now version ${promoted.version} (kid ${printable(promoted.kid)})` +
          (promoted.previous !== undefined
            ? `; version ${promoted.previous} stopped signing: retire it after ${retirementDelaySeconds(ctx.timing)} s`
            : '') +
          '\n',
      );
    },
  },
  {
    noun: 'signing-key',
    verb: 'retire',
    summary: 'Disable a version that no longer signs: jwks stops publishing it.',
    usage: '<version>',
    positionals: [1, 1],
    options: { force: { type: 'boolean', description: 'retire even if tokens it signed may still be unexpired' } },
    details: [
      'Refuses the version the alias points at, and, unless --force, any version that stopped signing',
      'less than the longest token lifetime ago (max of AUTOJOIN_TOKEN_TTL and INTEGRATION_TOKEN_TTL).',
    ],
    secretManager: true,
    examples: ['npx token-admin signing-key retire 3'],
    async run(call) {
      const version = versionOf(call.positionals[0], '<version>') as number;
      const retired = await retireSigningKey(rotationContext(call), {
        version,
        force: call.values.force === true,
      });
      if (call.asJson)
        call.out(json({ version, disabled: true, already_disabled: retired.alreadyDisabled, forced: retired.forced }));
      else
        call.out(
          retired.alreadyDisabled
            ? `version ${version} was already disabled\n`
            : `disabled version ${version}: jwks stops publishing it at its next refresh\n`,
        );
    },
  },
  {
    noun: 'signing-key',
    verb: 'list',
    summary: 'List the versions of the signing-key secret: version, kid, alg, state, alias.',
    positionals: [0, 0],
    options: {},
    secretManager: true,
    examples: ['npx token-admin signing-key list --secret projects/mlab-sandbox/secrets/token-exchange-signing-key'],
    async run(call) {
      const ctx = rotationContext(call);
      const versions = await listSigningKeys(ctx);
      if (call.asJson) {
        call.out(
          json(
            versions.map((v) => ({
              version: v.version,
              kid: v.kid,
              alg: v.alg,
              state: v.state,
              aliases: v.aliases,
              role: v.role,
              created_at: v.createdAt,
              stopped_signing_at: v.stoppedSigningAt,
              promotable_at: v.promotableAt,
              retirable_at: v.retirableAt,
            })),
          ),
        );
        return;
      }
      call.out(
        table(
          ['VERSION', 'KID', 'ALG', 'STATE', 'ALIAS', 'ROLE', 'CREATED', 'NEXT'],
          versions.map((v) => [
            String(v.version),
            printable(v.kid ?? '-'),
            v.alg ?? '-',
            v.state,
            v.aliases.join(',') || '-',
            v.role,
            formatTime(v.createdAt),
            next(v),
          ]),
        ),
      );
    },
  },
];
