// `imsync plan`: load, refresh, plan, show; nothing is written but the saved plan (`--out`).
import { randomUUID } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { systemClock } from '../clock.js';
import { encodePlan } from '../plan/codec.js';
import { blockedEntries, hasChanges } from '../plan/plan.js';
import { planOnce } from '../reconcile/reconcile.js';
import { writeDurably } from '../state/file-store.js';
import { EXIT, loadOrReport } from './commands.js';
import { resolveSettings, type ConnectionOptions, type GlobalOptions } from './config.js';
import { resolveTarget } from './connect.js';
import { parsePlanFlags, parseSettleGrace, type PlanFlags } from './flags.js';
import type { Output } from './output.js';
import { renderPlan } from './render-plan.js';
import { openSession } from './session.js';

export interface PlanCommandOptions extends GlobalOptions, ConnectionOptions, PlanFlags {
  settleGrace?: string;
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
  const flags = parsePlanFlags(options);
  // Only a refresh talks to IMS; --refresh=false plans offline.
  const startTarget = flags.refresh === 'skip' ? undefined : resolveTarget(options, env, settings.region);
  const manifests = await loadOrReport(paths, Boolean(options.json), output);
  if (!manifests) return EXIT.error;
  const state = await settings.store.read();
  const session = startTarget && (await openSession(startTarget, settings.region, state, settings.store.location));
  try {
    const region = session ? session.region : settings.region;
    const planned = await planOnce({ ...(session ? { ims: session.client } : {}), clock: systemClock }, state, {
      ...flags,
      manifests,
      ...(region === undefined ? {} : { region }),
      graceMs: parseSettleGrace(options.settleGrace),
    });
    // Encoded (its checksum with it) only when it is printed or saved.
    const document = options.json || options.out ? JSON.stringify(encodePlan(planned.plan)) : '';
    if (options.json) output.out(`${document}\n`);
    else renderPlan(planned, output);
    if (planned.refusal !== undefined) {
      output.err(`imsync: ${planned.refusal}\n`);
      return EXIT.error;
    }
    if (options.out) {
      const failure = await savePlan(options.out, `${document}\n`);
      if (failure !== undefined) {
        output.err(`imsync: --out ${options.out}: the plan cannot be saved there (${failure}); nothing was written\n`);
        return EXIT.error;
      }
      if (!options.json)
        output.out(
          `\nSaved the plan to ${options.out}; \`imsync apply --plan ${options.out}\` applies exactly this.\n`,
        );
    }
    const differs = hasChanges(planned.plan) || blockedEntries(planned.plan).length > 0;
    return options.detailedExitcode && differs ? EXIT.changes : EXIT.ok;
  } finally {
    await session?.close();
  }
}

/**
 * Writes the plan file whole or not at all (a temporary file beside it, renamed over it), mode
 * 0600 whatever was there before; or says why it cannot be written.
 */
async function savePlan(path: string, text: string): Promise<string | undefined> {
  const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
  try {
    await writeDurably(temporary, text);
    await rename(temporary, path);
    return undefined;
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return `the directory ${dirname(path)} does not exist`;
    if (code === 'ENOTDIR') return `${dirname(path)} is not a directory`;
    if (code === 'EISDIR') return 'it is a directory';
    // Node's message goes on to name the temporary file: keep "EACCES: permission denied".
    return message.split(',')[0]!;
  }
}
