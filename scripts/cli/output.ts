/**
 * What the CLI prints: aligned tables for people, JSON (`--json`) for scripts. Times are
 * ISO 8601 in UTC to the second, the same in both.
 */

export interface OutputStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean | undefined;
}

export function formatTime(date: Date | undefined, missing = '-'): string {
  return date === undefined ? missing : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** `label: value` lines with the values aligned. */
export function fields(entries: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...entries.map(([label]) => label.length)) + 1;
  return entries.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`.trimEnd()).join('\n') + '\n';
}

/** JSON with times as ISO strings and absent values left out. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (v instanceof Date ? formatTime(v) : v), 2)}\n`;
}

/** Keeps control characters in stored text from rewriting the operator's terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
