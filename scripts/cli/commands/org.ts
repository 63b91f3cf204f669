/** `token-admin org create|list|show`: autojoin organisations. */
import {
  createOrganization,
  listOrganizations,
  showOrganization,
  type OrganizationRecord,
} from '../../../shared/admin/owners';
import type { Command } from '../command';
import { keyJson, keyRows, keyTable } from './key';
import { fields, formatTime, json, printable, table } from '../output';

function organizationJson(record: OrganizationRecord): Record<string, unknown> {
  return {
    name: record.name,
    email: record.email,
    created_at: record.createdAt,
    probability_multiplier: record.probabilityMultiplier,
    active_keys: record.activeKeys,
    total_keys: record.totalKeys,
    last_used_at: record.lastUsedAt,
  };
}

export const orgCommands: readonly Command[] = [
  {
    noun: 'org',
    verb: 'create',
    summary: 'Create an autojoin organisation (then give it a key with key create --org).',
    usage: '<name>',
    positionals: [1, 1],
    options: { email: { type: 'string', value: 'address', description: "the organisation's contact" } },
    details: ['Written as the Go service wrote it: name, email, created_at, probability_multiplier 1.0.'],
    examples: ['npx token-admin org create mlab-example --email ops@example.org'],
    async run(call) {
      const name = call.positionals[0];
      const email = typeof call.values.email === 'string' ? call.values.email : '';
      await createOrganization(call.session.admin(), { name, email });
      if (call.asJson) call.out(json({ name, email }));
      else call.out(`created organisation ${name}\n`);
    },
  },
  {
    noun: 'org',
    verb: 'list',
    summary: 'List organisations with their key counts.',
    positionals: [0, 0],
    options: {},
    examples: ['npx token-admin org list'],
    async run(call) {
      const records = await listOrganizations(call.session.admin());
      if (call.asJson) {
        call.out(json(records.map(organizationJson)));
        return;
      }
      call.out(
        table(
          ['ORGANISATION', 'EMAIL', 'ACTIVE KEYS', 'KEYS', 'CREATED', 'LAST USED'],
          records.map((r) => [
            printable(r.name),
            printable(r.email),
            String(r.activeKeys),
            String(r.totalKeys),
            formatTime(r.createdAt),
            formatTime(r.lastUsedAt ?? undefined, 'never'),
          ]),
        ),
      );
    },
  },
  {
    noun: 'org',
    verb: 'show',
    summary: 'Show an organisation and its keys.',
    usage: '<name>',
    positionals: [1, 1],
    options: {},
    examples: ['npx token-admin org show mlab-example'],
    async run(call) {
      const record = await showOrganization(call.session.admin(), call.positionals[0]);
      if (call.asJson) {
        call.out(json({ ...organizationJson(record), keys: record.keys.map(keyJson) }));
        return;
      }
      call.out(
        fields([
          ['organisation', record.name],
          ['email', printable(record.email)],
          ['created', formatTime(record.createdAt)],
          [
            'probability multiplier',
            record.probabilityMultiplier === undefined ? '-' : String(record.probabilityMultiplier),
          ],
          ['keys', `${record.activeKeys} active of ${record.totalKeys}`],
          ['last used', formatTime(record.lastUsedAt ?? undefined, 'never')],
        ]),
      );
      if (record.keys.length > 0) call.out(`\n${keyTable(keyRows(record.keys, 'autojoin'), 'autojoin')}`);
    },
  },
];
