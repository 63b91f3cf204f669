/** `token-admin integration create|list|show|delete`. */
import {
  createIntegration,
  deleteIntegration,
  listIntegrations,
  showIntegration,
  type IntegrationRecord,
} from '../../../shared/admin/owners';
import type { Command } from '../command';
import { keyRows, keyTable, keyJson } from './key';
import { fields, formatTime, json, printable, table } from '../output';

function integrationJson(record: IntegrationRecord): Record<string, unknown> {
  return {
    integration_id: record.integrationId,
    description: record.description,
    created_at: record.createdAt,
    active_keys: record.activeKeys,
    total_keys: record.totalKeys,
    last_used_at: record.lastUsedAt,
  };
}

export const integrationCommands: readonly Command[] = [
  {
    noun: 'integration',
    verb: 'create',
    summary: 'Create an integration (then give it a key with key create).',
    usage: '<integration-id>',
    positionals: [1, 1],
    options: { description: { type: 'string', value: 'text', description: 'what the integration is, for operators' } },
    details: ['The id is 1 to 64 of A-Z a-z 0-9 _ - and appears in every key of the integration.'],
    examples: ['npx token-admin integration create speedtest-example --description "Example Speed Test"'],
    async run(call) {
      const id = call.positionals[0];
      const description = typeof call.values.description === 'string' ? call.values.description : '';
      await createIntegration(call.session.admin(), id, description);
      if (call.asJson) call.out(json({ integration_id: id, description }));
      else call.out(`created integration ${id}\n`);
    },
  },
  {
    noun: 'integration',
    verb: 'list',
    summary: 'List integrations with their key counts.',
    positionals: [0, 0],
    options: {},
    examples: ['npx token-admin integration list', 'npx token-admin integration list --json'],
    async run(call) {
      const records = await listIntegrations(call.session.admin());
      if (call.asJson) {
        call.out(json(records.map(integrationJson)));
        return;
      }
      call.out(
        table(
          ['INTEGRATION', 'ACTIVE KEYS', 'KEYS', 'CREATED', 'LAST USED', 'DESCRIPTION'],
          records.map((r) => [
            printable(r.integrationId),
            String(r.activeKeys),
            String(r.totalKeys),
            formatTime(r.createdAt),
            formatTime(r.lastUsedAt ?? undefined, 'never'),
            printable(r.description),
          ]),
        ),
      );
    },
  },
  {
    noun: 'integration',
    verb: 'show',
    summary: 'Show an integration and its keys.',
    usage: '<integration-id>',
    positionals: [1, 1],
    options: {},
    examples: ['npx token-admin integration show speedtest-example'],
    async run(call) {
      const record = await showIntegration(call.session.admin(), call.positionals[0]);
      if (call.asJson) {
        call.out(json({ ...integrationJson(record), keys: record.keys.map(keyJson) }));
        return;
      }
      call.out(
        fields([
          ['integration', printable(record.integrationId)],
          ['description', printable(record.description)],
          ['created', formatTime(record.createdAt)],
          ['keys', `${record.activeKeys} active of ${record.totalKeys}`],
          ['last used', formatTime(record.lastUsedAt ?? undefined, 'never')],
        ]),
      );
      if (record.keys.length > 0) call.out(`\n${keyTable(keyRows(record.keys, 'integration'), 'integration')}`);
    },
  },
  {
    noun: 'integration',
    verb: 'delete',
    summary: 'Delete an integration and all its keys.',
    usage: '<integration-id>',
    positionals: [1, 1],
    options: { force: { type: 'boolean', description: 'delete even while the integration has active keys' } },
    details: ['Refused while any key of the integration is active (revoke them first), unless --force.'],
    examples: [
      'npx token-admin integration delete speedtest-example',
      'npx token-admin integration delete speedtest-example --force',
    ],
    async run(call) {
      const id = call.positionals[0];
      const { deletedKeys } = await deleteIntegration(call.session.admin(), id, { force: call.values.force === true });
      if (call.asJson) call.out(json({ integration_id: id, deleted_keys: deletedKeys }));
      else call.out(`deleted integration ${id} and its ${deletedKeys} key${deletedKeys === 1 ? '' : 's'}\n`);
    },
  },
];
