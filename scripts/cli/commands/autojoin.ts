/** `token-admin autojoin migrate-legacy`: the Go service's plaintext autojoin keys, hashed. */
import { migrateLegacyKeys } from '../../../shared/admin/legacyMigration';
import { UsageError } from '../args';
import type { Command } from '../command';
import { json, table } from '../output';

export const autojoinCommands: readonly Command[] = [
  {
    noun: 'autojoin',
    verb: 'migrate-legacy',
    summary: "Rewrite the Go service's plaintext autojoin keys in hashed form; they keep working.",
    positionals: [0, 0],
    options: {
      'delete-plaintext': {
        type: 'boolean',
        description: 'also delete each plaintext entity once its hashed form exists',
      },
      'dry-run': { type: 'boolean', description: 'report what would be done, change nothing' },
      yes: {
        type: 'boolean',
        description: 'with --delete-plaintext: yes, end the rollback path (the Go service reads the plaintext)',
      },
    },
    details: [
      'Each APIKey entity named by its plaintext flat key becomes LegacyAPIKey/<hex SHA-256 of the key>,',
      'which exchangeAutojoin finds with one get. Safe to rerun: migrated keys are counted, not rewritten.',
      'Prints counts, organisations and hash prefixes only, never a key.',
      '--delete-plaintext ends the rollback path: the Go service, and autojoin tools that read APIKey,',
      'validate flat keys by their plaintext entity, so after it they refuse those keys. It asks for --yes.',
    ],
    examples: [
      'npx token-admin autojoin migrate-legacy --dry-run',
      'npx token-admin autojoin migrate-legacy',
      'npx token-admin autojoin migrate-legacy --delete-plaintext --yes',
    ],
    async run(call) {
      const deletePlaintext = call.values['delete-plaintext'] === true;
      const dryRun = call.values['dry-run'] === true;
      if (deletePlaintext && !dryRun && call.values.yes !== true) {
        throw new UsageError(
          '--delete-plaintext ends the rollback path: the Go service reads the plaintext APIKey entities, ' +
            'so it could no longer validate those keys; add --yes to go ahead (--dry-run shows what it would delete)',
        );
      }
      const report = await migrateLegacyKeys(call.session.admin(), {
        deletePlaintext,
        dryRun,
      });
      if (call.asJson) {
        call.out(
          json({
            dry_run: report.dryRun,
            scanned: report.scanned,
            scoped: report.scoped,
            migrated: report.migrated,
            already_migrated: report.alreadyMigrated,
            plaintext_deleted: report.plaintextDeleted,
            conflicts: report.conflicts,
            unrecognised: report.unrecognised,
            conflict_ids: report.conflictIds,
            orgs: report.orgs.map((o) => ({
              org: o.org,
              migrated: o.migrated,
              already_migrated: o.alreadyMigrated,
              plaintext_deleted: o.plaintextDeleted,
            })),
          }),
        );
        return;
      }
      const verb = report.dryRun ? 'would migrate' : 'migrated';
      if (report.orgs.length > 0) {
        call.out(
          table(
            [
              'ORGANISATION',
              report.dryRun ? 'TO MIGRATE' : 'MIGRATED',
              'ALREADY MIGRATED',
              report.dryRun ? 'TO DELETE' : 'PLAINTEXT DELETED',
            ],
            report.orgs.map((o) => [o.org, String(o.migrated), String(o.alreadyMigrated), String(o.plaintextDeleted)]),
          ) + '\n',
        );
      }
      call.out(
        `${report.dryRun ? 'dry run: ' : ''}${verb} ` +
          `${report.migrated} legacy key${report.migrated === 1 ? '' : 's'}, ` +
          `${report.alreadyMigrated} already migrated, ` +
          `${report.plaintextDeleted} plaintext ${report.dryRun ? 'to delete' : 'deleted'}; ` +
          `${report.scanned} APIKey entities read, ${report.scoped} scoped keys left as they are` +
          `${report.unrecognised > 0 ? `, ${report.unrecognised} unrecognised left alone` : ''}\n`,
      );
      if (report.conflicts > 0) {
        call.note(
          `${report.conflicts} key(s) already migrated for another organisation, left alone: ` +
            `${report.conflictIds.join(', ')}\n`,
        );
      }
    },
  },
];
