/**
 * What the framework guards make of a console.error(error) (functions-framework logs a failed
 * request that way): one structured line whose message is the error's first line and whose
 * stack_trace holds the frames only, never the message's later lines (which may quote input).
 */
import { installFrameworkGuards } from '../../../shared/platform/frameworkGuards';
import type { LogEntry } from '../../../shared/platform/log';

const entries: LogEntry[] = [];
installFrameworkGuards((entry) => entries.push(entry));

it('logs an error with a message of several lines as its first line, and its frames alone', () => {
  entries.length = 0;
  console.error(new Error('cannot read the body\n{"api_key": "mlabk.cii_x.ki_0123456789abcdef.c2VjcmV0"}'));
  expect(entries).toHaveLength(1);
  const [entry] = entries;
  expect(entry).toMatchObject({ severity: 'ERROR', message: 'Error: cannot read the body' });
  expect(String(entry?.stack_trace)).toMatch(/^at /);
  expect(JSON.stringify(entries)).not.toContain('c2VjcmV0');
});
