import { formatLocation, type Diagnostic } from '../manifest/diagnostic.js';
import { jsonText, printable } from '../text.js';
import type { Output } from './output.js';

/** One line each: `file:line:column  CODE  message`, then a count. */
export function renderDiagnostics(diagnostics: readonly Diagnostic[], output: Output): void {
  const { color } = output;
  for (const d of diagnostics) {
    const where = d.source ? `${formatLocation(d.source)}  ` : '';
    output.err(`${color.bold(printable(where))}${color.red(d.code)}  ${printable(d.message)}\n`);
  }
  output.err(`\n${countDiagnostics(diagnostics)}\n`);
}

/** `2 errors in 1 file`. */
export function countDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const files = new Set(diagnostics.map((d) => d.source?.file).filter(Boolean)).size;
  return `${diagnostics.length} ${plural(diagnostics.length, 'error')}${files > 0 ? ` in ${files} ${plural(files, 'file')}` : ''}`;
}

export function diagnosticsAsJson(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .map((d) => jsonText({ type: 'diagnostic', code: d.code, message: d.message, ...d.source }) + '\n')
    .join('');
}

export function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}
