// The one pipeline `plan`, `apply` and `watch` share: (load →) refresh → plan → execute. The
// manifests come in loaded; the cloud is observed once; a pure refresh and a pure planner make
// the decision; the executor carries it out. Commands differ only in their hooks: `plan` stops
// after planning, `apply` asks before executing, the daemon loops.
import type { ApplySummary } from '../apply/events.js';
import { executePlan, type ExecutorDeps, type ExecutorOptions, type ImsApi } from '../apply/executor.js';
import type { Clock } from '../clock.js';
import type { Manifest } from '../manifest/types.js';
import { forRegion, hasWork, planChanges, pruneRefusal, type Plan, type PlanEntry, type Policy } from '../plan/plan.js';
import { fileName, imageFile } from '../preflight/checks.js';
import { preflight, type PreflightDeps } from '../preflight/preflight.js';
import { observeAccount, type RefreshApi } from '../refresh/observe.js';
import { refresh } from '../refresh/refresh.js';
import type { PreflightCache, SourceObject, State } from '../state/model.js';

export type RefreshMode =
  /** Observe the cloud, then plan against what it holds. */
  | 'refresh'
  /** Trust the state as recorded (`--refresh=false`). */
  | 'skip'
  /** Only record what the cloud holds (`--refresh-only`). */
  | 'only';

export interface PlanInput {
  readonly manifests: readonly Manifest[];
  /** The connection's region: changes elsewhere are left for a run connected there. */
  readonly region?: string;
  /** The region of manifests that name none, when it is not the connection's (a run of several regions). */
  readonly defaultRegion?: string;
  readonly policy: Policy;
  readonly refresh: RefreshMode;
  /** How long a recorded image may stay unlisted before it counts as deleted. */
  readonly graceMs: number;
  /** Pruning more than this is refused unless `force`. */
  readonly maxPrune: number;
  readonly force: boolean;
  /** A failed import is retried only once its backoff has passed (the daemon). */
  readonly backoff?: boolean;
}

/** The checks of the image files, or why there are none. */
export type PreflightStage =
  | { readonly skipped: string }
  | (PreflightDeps & {
      /** How long what passed is trusted. */
      readonly maxAgeMs: number;
      readonly concurrency: number;
      /** A file uploaded again under its key after its import: its image replaced, or only told. */
      readonly onReupload: 'replace' | 'warn';
      /** The cache to start from instead of the state's (the daemon keeps its own between reconciles). */
      readonly cache?: PreflightCache;
    });

export interface Planned {
  readonly plan: Plan;
  /** Regions with changes this connection leaves alone. */
  readonly elsewhere: readonly string[];
  /** Why the plan must not be carried out (the prune guard), if so. */
  readonly refusal?: string;
  /** Only what the refresh found is to be recorded (`--refresh-only`). */
  readonly refreshOnly?: boolean;
  /** The pre-flight's cache after this plan's checks: for the command to keep. */
  readonly preflightCache?: PreflightCache;
}

export async function planOnce(
  deps: { readonly ims?: RefreshApi; readonly clock: Clock; readonly preflight?: PreflightStage },
  state: State,
  input: PlanInput,
  signal?: AbortSignal,
): Promise<Planned> {
  const region = input.region === undefined ? {} : { region: input.region };
  const refreshed =
    input.refresh === 'skip' || deps.ims === undefined
      ? undefined
      : refresh(state, input.manifests, await observeAccount(deps.ims, state, { ...region, signal }), {
          now: new Date(deps.clock.now()),
          graceMs: input.graceMs,
          ...region,
        });
  const plan = (reuploaded?: ReadonlyMap<string, SourceObject>) => {
    const full = planChanges(input.manifests, state, {
      policy: input.policy,
      ...((input.defaultRegion ?? input.region) === undefined
        ? {}
        : { defaultRegion: input.defaultRegion ?? input.region }),
      ...(refreshed ? { refresh: refreshed } : {}),
      ...(input.backoff ? { now: new Date(deps.clock.now()) } : {}),
      ...(reuploaded ? { reuploaded } : {}),
    });
    const here = forRegion(full, input.region);
    return input.refresh === 'only' ? { ...here, plan: { ...here.plan, entries: [] } } : here;
  };
  const planned = plan();
  const checked = deps.preflight && (await checkFiles(planned.plan, state, deps.preflight, input, plan, signal));
  const { elsewhere } = planned;
  const decided = checked?.plan ?? planned.plan;
  const problems = decided.preflight?.problems.length ?? 0;
  const refusal =
    pruneRefusal(decided, { maxPrune: input.maxPrune, force: input.force, manifests: input.manifests.length }) ??
    (problems === 0
      ? undefined
      : `the pre-flight found ${problems === 1 ? 'a problem' : `${problems} problems`} with the image files to import (above); fix ${problems === 1 ? 'it' : 'them'}, or plan with --no-preflight`);
  return {
    plan: decided,
    elsewhere,
    ...(refusal === undefined ? {} : { refusal }),
    ...(input.refresh === 'only' ? { refreshOnly: true } : {}),
    ...(checked?.cache ? { preflightCache: checked.cache } : {}),
  };
}

/**
 * The plan with its pre-flight: each import's file checked (and recorded with it), each imported
 * file looked at for a re-upload, which is planned again as a replacement when that is asked for.
 */
async function checkFiles(
  planned: Plan,
  state: State,
  stage: PreflightStage,
  input: PlanInput,
  replan: (reuploaded: ReadonlyMap<string, SourceObject>) => { readonly plan: Plan },
  signal: AbortSignal | undefined,
): Promise<{ plan: Plan; cache?: PreflightCache }> {
  const none = { files: 0, cached: 0, requests: 0, problems: [], warnings: [] };
  if ('skipped' in stage) return { plan: { ...planned, preflight: { skipped: stage.skipped, ...none } } };
  const options = {
    ...(input.region === undefined ? {} : { region: input.region }),
    maxAgeMs: stage.maxAgeMs,
    concurrency: stage.concurrency,
    // A re-upload is news from the cloud: looked for when the cloud is.
    reuploads: input.refresh !== 'skip',
    ...(signal ? { signal } : {}),
  };
  let result = await preflight(planned, stage.cache ?? state.preflight, stage, options);
  let plan = planned;
  if (stage.onReupload === 'replace' && result.reuploaded.size > 0) {
    // The replacements are imports like any other: checked as such (what passed is cached now).
    const first = result.report;
    plan = replan(result.reuploaded).plan;
    result = await preflight(plan, result.cache, stage, options);
    result = { ...result, report: { ...result.report, requests: first.requests + result.report.requests } };
  }
  const checked = result.cache.objects;
  const entries = plan.entries.map((entry): PlanEntry => {
    if (entry.action !== 'import' && entry.action !== 'retry' && entry.action !== 'replace') return entry;
    const passed = checked[fileName(imageFile(entry.manifest.spec.image_url))];
    return passed ? { ...entry, source: { etag: passed.etag, size: passed.size } } : entry;
  });
  return { plan: { ...plan, entries, preflight: result.report }, cache: result.cache };
}

export interface ReconcileHooks {
  /** Told every plan, before anything is done. */
  readonly planned: (planned: Planned) => void;
  /** Asked when the plan has work and may go ahead; false stops here. */
  readonly confirm: (planned: Planned) => Promise<boolean>;
}

export interface Reconciled {
  readonly planned: Planned;
  /** Undefined when nothing was carried out. */
  readonly summary?: ApplySummary;
}

/** One reconcile: plan (or take a saved plan), confirm, execute. */
export async function reconcileOnce(
  deps: ExecutorDeps & { readonly ims: ImsApi & RefreshApi; readonly preflight?: PreflightStage },
  source: PlanInput | { readonly saved: Plan },
  hooks: ReconcileHooks,
  options: ExecutorOptions,
): Promise<Reconciled> {
  await deps.recorder.flush();
  const planned =
    'saved' in source
      ? { plan: source.saved, elsewhere: [] }
      : await planOnce(deps, deps.recorder.state, source, options.abort);
  hooks.planned(planned);
  if (planned.refusal !== undefined || !hasWork(planned.plan)) return { planned };
  if (!(await hooks.confirm(planned))) return { planned };
  return { planned, summary: await executePlan(planned.plan, deps, options) };
}
