// What every command shares (exit codes, loading manifests or reporting why not) and `validate`.
// Commands return an exit code; main.ts is the one place that exits.
import type { Diagnostic } from '../manifest/diagnostic.js';
import { loadManifests } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { Output } from './output.js';
import { diagnosticsAsJson, plural, renderDiagnostics } from './render-diagnostics.js';

export const EXIT = { ok: 0, error: 1, changes: 2 } as const;

export interface ValidateOptions {
  json?: boolean;
}

export async function validateCommand(paths: string[], options: ValidateOptions, output: Output): Promise<number> {
  const loaded = await loadManifests(paths);
  if (options.json) {
    output.out(diagnosticsAsJson(loaded.diagnostics));
  } else if (loaded.diagnostics.length > 0) {
    renderDiagnostics(loaded.diagnostics, output);
  } else {
    const count = loaded.manifests.length;
    output.out(
      `${count} ${plural(count, 'manifest')} in ${loaded.files.length} ${plural(loaded.files.length, 'file')}: valid\n`,
    );
  }
  return loaded.diagnostics.length > 0 ? EXIT.error : EXIT.ok;
}

/** How a command reports invalid manifests: as text (on stderr), as JSON lines, or its own way. */
export type DiagnosticsReport = 'text' | 'json' | ((diagnostics: readonly Diagnostic[]) => void);

/** The manifests, or undefined once their problems are reported. */
export async function loadOrReport(
  paths: string[],
  report: DiagnosticsReport,
  output: Output,
): Promise<readonly Manifest[] | undefined> {
  const loaded = await loadManifests(paths);
  if (loaded.diagnostics.length === 0) return loaded.manifests;
  if (report === 'json') output.out(diagnosticsAsJson(loaded.diagnostics));
  else if (report === 'text') renderDiagnostics(loaded.diagnostics, output);
  else report(loaded.diagnostics);
  return undefined;
}
