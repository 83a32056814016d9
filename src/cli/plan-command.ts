// `imsync plan`: load, refresh, plan, show; nothing is written but the saved plan (`--out`).
import { randomUUID } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { systemClock } from '../clock.js';
import { encodePlan } from '../plan/codec.js';
import { blockedEntries, hasChanges } from '../plan/plan.js';
import { mergeCaches, sameCache } from '../preflight/preflight.js';
import { runRegions, type RunRegions } from '../plan/regions.js';
import { planRegions } from '../reconcile/regions.js';
import type { Manifest } from '../manifest/types.js';
import type { PreflightCache } from '../state/model.js';
import { openRegionSessions, regionTargets, runsSeveralRegions } from './regions.js';
import type { Session } from './session.js';
import { planOnce, type Planned } from '../reconcile/reconcile.js';
import type { State } from '../state/model.js';
import type { StateStore } from '../state/store.js';
import { writeDurably } from '../state/file-store.js';
import { EXIT, loadOrReport, type DiagnosticsReport } from './commands.js';
import { resolveSettings, type ConnectionOptions, type GlobalOptions, type Settings } from './config.js';
import { resolveTarget } from './connect.js';
import { parsePlanFlags, parsePlanFormat, parseSettleGrace, type PlanFlags, type PlanFormat } from './flags.js';
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
  // Only a refresh talks to IMS; --refresh=false plans offline. Several regions find their
  // projects themselves: a missing HW_PROJECT_ID is no error then.
  const several = flags.refresh !== 'skip' && settings.region !== undefined && runsSeveralRegions(options, env);
  const startTarget =
    flags.refresh === 'skip'
      ? undefined
      : several
        ? () => resolveTarget(options, env, settings.region)()
        : resolveTarget(options, env, settings.region);
  const markdown = format === 'markdown' ? await markdownContext(paths, settings) : undefined;
  const report: DiagnosticsReport = markdown
    ? (diagnostics) => output.out(renderMarkdownPlan({ diagnostics }, markdown))
    : format === 'json'
      ? 'json'
      : 'text';
  const manifests = await loadOrReport(paths, report, output);
  if (!manifests) return EXIT.error;
  const state = await settings.store.read();
  const scope = several ? runRegions(manifests, state, settings.region, settings.only) : undefined;
  const oneRegion =
    scope?.regions.length === 1 &&
    scope.regions[0] === settings.region &&
    (options.emulator || (options.projectId ?? env.HW_PROJECT_ID) !== undefined);
  if (scope && scope.regions.length > 0 && !oneRegion) {
    if (options.out) {
      output.err(
        `imsync: --out saves the plan of one region; this one covers ${scope.regions.join(', ')}: narrow it with --region\n`,
      );
      return EXIT.error;
    }
    return planEveryRegion({ ...scope, manifests, state, settings, flags, options, env, output, format, markdown });
  }
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
  const written = made.preflightCache && (await keepCache(store, planned, made.preflightCache));
  if (written === undefined) return made;
  return { ...made, plan: { ...made.plan, basis: { lineage: written.lineage, serial: written.serial } } };
}

/** The state with `cache` written in it, or undefined when it was not (unchanged, busy, moved on). */
async function keepCache(store: StateStore, planned: State, cache: PreflightCache): Promise<State | undefined> {
  if (planned.lineage === '' || sameCache(cache, planned.preflight)) return undefined;
  const lock = await store.lock('imsync plan', 0).catch(() => undefined);
  if (lock === undefined) return undefined;
  try {
    const current = await store.read();
    if (current.lineage !== planned.lineage || current.serial !== planned.serial) return undefined;
    return await store.write({ ...current, preflight: cache });
  } catch {
    return undefined;
  } finally {
    await lock.release();
  }
}

interface EveryRegion extends RunRegions {
  readonly manifests: readonly Manifest[];
  readonly state: State;
  readonly options: PlanCommandOptions;
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
  readonly format: PlanFormat;
  readonly markdown: MarkdownContext | undefined;
  /** Read once by the command. */
  readonly settings: Settings;
  readonly flags: ReturnType<typeof parsePlanFlags>;
}

/** The plan of each region, made against its own IMS at once and shown under its name. */
async function planEveryRegion(run: EveryRegion): Promise<number> {
  const { options, env, output, state, format, markdown } = run;
  const { settings, flags } = run;
  if (run.leftOut.length > 0) output.err(`imsync: regions left alone (--region): ${run.leftOut.join(', ')}\n`);
  const found = await regionTargets(run.regions, settings.region, options, env, state);
  const sessions: Session[] = [];
  try {
    const opened = await openRegionSessions(found.targets, state, settings.store.location);
    for (const each of opened) if ('session' in each) sessions.push(each.session);
    const runs = opened.map((each) => ({
      region: each.region,
      input: {
        ...flags,
        manifests: run.manifests,
        region: each.region,
        ...(settings.region === undefined ? {} : { defaultRegion: settings.region }),
        graceMs: parseSettleGrace(options.settleGrace),
      },
      deps:
        'error' in each
          ? each.error
          : { ims: each.session.client, clock: systemClock, preflight: each.session.preflight(flags.preflight) },
    }));
    const results = await planRegions(runs, () => state);
    let differs = false;
    let failed = false;
    for (const { region, planned, error } of results) {
      if (format === 'text' && results.length > 1) output.out(`\n${output.color.bold(`Region ${region}:`)}\n`);
      if (planned === undefined) {
        output.err(`imsync: region ${region} failed: ${error.message}\n`);
        failed = true;
        continue;
      }
      const shown = { ...planned, elsewhere: [] };
      if (format === 'json') output.out(`${JSON.stringify(encodePlan(planned.plan))}\n`);
      else if (markdown) output.out(renderMarkdownPlan({ planned: shown }, { ...markdown, region }));
      else renderPlan(shown, output);
      if (planned.refusal !== undefined) {
        output.err(`imsync: region ${region}: ${planned.refusal}\n`);
        failed = true;
      }
      differs ||= hasChanges(planned.plan) || blockedEntries(planned.plan).length > 0;
    }
    const caches = results.flatMap((result) => (result.planned?.preflightCache ? [result.planned.preflightCache] : []));
    if (caches.length > 0) await keepCache(settings.store, state, mergeCaches(caches));
    if (failed) return EXIT.error;
    return options.detailedExitcode && differs ? EXIT.changes : EXIT.ok;
  } finally {
    for (const session of sessions) await session.close();
    await found.close();
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
