// `imsync plan`: load, refresh, plan, show; nothing is written but the saved plan (`--out`).
import { randomUUID } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { systemClock } from '../clock.js';
import { encodePlan } from '../plan/codec.js';
import { blockedEntries, hasChanges } from '../plan/plan.js';
import { sameCache } from '../preflight/preflight.js';
import { planOnce, type Planned } from '../reconcile/reconcile.js';
import type { State } from '../state/model.js';
import type { StateStore } from '../state/store.js';
import { writeDurably } from '../state/file-store.js';
import { EXIT, loadOrReport, type DiagnosticsReport } from './commands.js';
import { resolveSettings, type ConnectionOptions, type GlobalOptions, type Settings } from './config.js';
import { resolveTarget } from './connect.js';
import { parsePlanFlags, parsePlanFormat, parseSettleGrace, type PlanFlags } from './flags.js';
import type { Output } from './output.js';
import { renderMarkdownPlan, type MarkdownContext } from './render-markdown.js';
import { renderPlan } from './render-plan.js';
import { repositoryRoot } from './repository.js';
import { openSession } from './session.js';

export interface PlanCommandOptions extends GlobalOptions, ConnectionOptions, PlanFlags {
  settleGrace?: string;
  format?: string;
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
  const format = parsePlanFormat(options);
  const settings = resolveSettings(options, env);
  const flags = parsePlanFlags(options);
  // Only a refresh talks to IMS; --refresh=false plans offline.
  const startTarget = flags.refresh === 'skip' ? undefined : resolveTarget(options, env, settings.region);
  const markdown = format === 'markdown' ? await markdownContext(paths, settings) : undefined;
  const report: DiagnosticsReport = markdown
    ? (diagnostics) => output.out(renderMarkdownPlan({ diagnostics }, markdown))
    : format === 'json'
      ? 'json'
      : 'text';
  const manifests = await loadOrReport(paths, report, output);
  if (!manifests) return EXIT.error;
  const state = await settings.store.read();
  const session = startTarget && (await openSession(startTarget, settings.region, state, settings.store.location));
  try {
    const region = session ? session.region : settings.region;
    const preflight = session
      ? session.preflight(flags.preflight)
      : { skipped: 'not checked: the plan was made offline (--refresh=false)' };
    const planned = await keepChecked(
      settings.store,
      state,
      await planOnce({ ...(session ? { ims: session.client } : {}), clock: systemClock, preflight }, state, {
        ...flags,
        manifests,
        ...(region === undefined ? {} : { region }),
        graceMs: parseSettleGrace(options.settleGrace),
      }),
    );
    // Encoded (its checksum with it) only when it is printed or saved.
    const document = format === 'json' || options.out ? JSON.stringify(encodePlan(planned.plan)) : '';
    if (format === 'json') output.out(`${document}\n`);
    else if (markdown) output.out(renderMarkdownPlan({ planned }, { ...markdown, ...(region ? { region } : {}) }));
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
      // Said beside the plan in text; a JSON or markdown plan stays the document it is.
      const saved = `Saved the plan to ${options.out}; \`imsync apply --plan ${options.out}\` applies exactly this.\n`;
      if (format === 'text') output.out(`\n${saved}`);
      else if (markdown) output.err(saved);
    }
    const differs = hasChanges(planned.plan) || blockedEntries(planned.plan).length > 0;
    return options.detailedExitcode && differs ? EXIT.changes : EXIT.ok;
  } finally {
    await session?.close();
  }
}

/**
 * Keeps what the pre-flight found fine in the state, so that the next plan need not ask OBS
 * again, and moves the plan's basis past that write. Only when nobody holds the state and it is
 * as planned against: the cache is worth no wait and no conflict, and a plan never makes a state.
 */
async function keepChecked(store: StateStore, planned: State, made: Planned): Promise<Planned> {
  const cache = made.preflightCache;
  if (cache === undefined || planned.lineage === '' || sameCache(cache, planned.preflight)) return made;
  const lock = await store.lock('imsync plan', 0).catch(() => undefined);
  if (lock === undefined) return made;
  try {
    const current = await store.read();
    if (current.lineage !== planned.lineage || current.serial !== planned.serial) return made;
    const written = await store.write({ ...current, preflight: cache });
    return { ...made, plan: { ...made.plan, basis: { lineage: written.lineage, serial: written.serial } } };
  } catch {
    return made;
  } finally {
    await lock.release();
  }
}

/**
 * Where the markdown plan says it was made, with paths from the root of the manifests' git
 * repository (found from the first path), or from the current directory outside any.
 */
async function markdownContext(paths: readonly string[], settings: Settings): Promise<MarkdownContext> {
  const cwd = process.cwd();
  return {
    state: settings.store.location,
    root: (await repositoryRoot(paths[0]!, cwd)) ?? cwd,
    cwd,
    ...(settings.region === undefined ? {} : { region: settings.region }),
  };
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
