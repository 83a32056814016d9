// The commands: read, plan, render. They return an exit code; main.ts is the one place that exits.
import { chmod, writeFile } from 'node:fs/promises';
import { loadManifests } from '../manifest/load.js';
import { hasChanges, planChanges } from '../plan/plan.js';
import { resolveSettings, type GlobalOptions } from './config.js';
import type { Output } from './output.js';
import { diagnosticsAsJson, plural, renderDiagnostics } from './render-diagnostics.js';
import { planToJson, renderPlan } from './render-plan.js';

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

export interface PlanCommandOptions extends GlobalOptions {
  json?: boolean;
  out?: string;
  detailedExitcode?: boolean;
}

export async function planCommand(
  paths: string[],
  options: PlanCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<number> {
  const settings = resolveSettings(options, env);
  const loaded = await loadManifests(paths);
  if (loaded.diagnostics.length > 0) {
    if (options.json) output.out(diagnosticsAsJson(loaded.diagnostics));
    else renderDiagnostics(loaded.diagnostics, output);
    return EXIT.error;
  }
  const state = await settings.store.read();
  const plan = planChanges(
    loaded.manifests,
    state,
    settings.region === undefined ? {} : { defaultRegion: settings.region },
  );
  const document = JSON.stringify(planToJson(plan));
  if (options.json) output.out(`${document}\n`);
  else renderPlan(plan, output);
  if (options.out) {
    await writeFile(options.out, `${document}\n`, { mode: 0o600 });
    await chmod(options.out, 0o600);
    if (!options.json)
      output.out(`\nSaved the plan to ${options.out}; \`imsync apply --plan ${options.out}\` applies exactly this.\n`);
  }
  return options.detailedExitcode && hasChanges(plan) ? EXIT.changes : EXIT.ok;
}
