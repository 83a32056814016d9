// The one pipeline `plan`, `apply` and `watch` share: (load →) refresh → plan → execute. The
// manifests come in loaded; the cloud is observed once; a pure refresh and a pure planner make
// the decision; the executor carries it out. Commands differ only in their hooks: `plan` stops
// after planning, `apply` asks before executing, the daemon loops.
import type { ApplySummary } from '../apply/events.js';
import { executePlan, type ExecutorDeps, type ExecutorOptions, type ImsApi } from '../apply/executor.js';
import type { Clock } from '../clock.js';
import type { Manifest } from '../manifest/types.js';
import { forRegion, hasWork, planChanges, pruneRefusal, type Plan, type Policy } from '../plan/plan.js';
import { observeAccount, type RefreshApi } from '../refresh/observe.js';
import { refresh } from '../refresh/refresh.js';
import type { State } from '../state/model.js';

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

export interface Planned {
  readonly plan: Plan;
  /** Regions with changes this connection leaves alone. */
  readonly elsewhere: readonly string[];
  /** Why the plan must not be carried out (the prune guard), if so. */
  readonly refusal?: string;
  /** Only what the refresh found is to be recorded (`--refresh-only`). */
  readonly refreshOnly?: boolean;
}

export async function planOnce(
  deps: { readonly ims?: RefreshApi; readonly clock: Clock },
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
  const full = planChanges(input.manifests, state, {
    policy: input.policy,
    ...(input.region === undefined ? {} : { defaultRegion: input.region }),
    ...(refreshed ? { refresh: refreshed } : {}),
    ...(input.backoff ? { now: new Date(deps.clock.now()) } : {}),
  });
  const { plan, elsewhere } = forRegion(full, input.region);
  const decided = input.refresh === 'only' ? { ...plan, entries: [] } : plan;
  const refusal = pruneRefusal(decided, {
    maxPrune: input.maxPrune,
    force: input.force,
    manifests: input.manifests.length,
  });
  return {
    plan: decided,
    elsewhere,
    ...(refusal === undefined ? {} : { refusal }),
    ...(input.refresh === 'only' ? { refreshOnly: true } : {}),
  };
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
  deps: ExecutorDeps & { readonly ims: ImsApi & RefreshApi },
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
