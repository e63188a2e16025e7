/** Names, sizes, modes and HMAC versions only: no column a secret value could reach. Pure. */
import type { MountResult } from '../mount/mount-service.js';

const HEADER = ['OBJECT', 'PATH', 'SIZE', 'MODE', 'VERSION', 'NOTE'] as const;

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** Rows in the SecretProviderClass's order; template inputs last. */
export function reportRows(result: Pick<MountResult, 'objects' | 'inputs'>): string[][] {
  const rows: string[][] = [];
  for (const obj of result.objects) {
    if (obj.state === 'absent') {
      rows.push([obj.objectName, '-', '-', '-', obj.version, 'optional: not in Vault, no file']);
      continue;
    }
    for (const file of obj.files) rows.push([obj.objectName, file.path, String(file.bytes), octal(file.mode), obj.version, '']);
    if (obj.files.length === 0) rows.push([obj.objectName, '-', '0', '-', obj.version, 'no keys, no file']);
  }
  for (const input of result.inputs) rows.push([input.objectName, '-', '-', '-', '-', 'template input, no file']);
  return rows;
}

/** Left-aligned columns, SIZE right-aligned, two spaces apart; trailing blanks trimmed. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const all = [[...HEADER], ...rows];
  const widths = HEADER.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, col) => (col === 2 ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
