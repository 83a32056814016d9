// One run over several regions: each region planned against its own IMS (concurrently), all the
// plans shown and confirmed once, then each carried out by an executor of its own, with its own
// request budget and import cap, into the one shared state. A region that fails (its endpoint
// down, its project unknown) fails alone: the others converge.
import type { ApplySummary } from '../apply/events.js';
import { executePlan, type ExecutorDeps, type ExecutorOptions, type ImsApi } from '../apply/executor.js';
import { hasWork } from '../plan/plan.js';
import type { RefreshApi } from '../refresh/observe.js';
import type { State } from '../state/model.js';
import { StateError } from '../state/store.js';
import { planOnce, type Planned, type PlanInput, type PreflightStage } from './reconcile.js';

export interface RegionRun {
  readonly region: string;
  /** The region's IMS, or why it cannot be reached (its project unknown, say). */
  readonly deps: (ExecutorDeps & { readonly ims: ImsApi & RefreshApi; readonly preflight?: PreflightStage }) | Error;
  readonly input: PlanInput;
}

export type RegionResult =
  | { readonly region: string; readonly planned: Planned; readonly summary?: ApplySummary; readonly error?: Error }
  | { readonly region: string; readonly planned?: undefined; readonly summary?: undefined; readonly error: Error };

export interface RegionHooks {
  /** Told every region's plan (or failure), before anything is done. */
  readonly planned: (results: readonly RegionResult[]) => void;
  /** Asked once when some region's plan has work; false stops here. */
  readonly confirm: (results: readonly RegionResult[]) => Promise<boolean>;
}

/** Each region's plan, made against its own IMS at once; a region that cannot be planned fails alone. */
export async function planRegions(
  runs: readonly {
    readonly region: string;
    readonly deps: Parameters<typeof planOnce>[0] | Error;
    readonly input: PlanInput;
  }[],
  state: () => State,
  signal?: AbortSignal,
): Promise<RegionResult[]> {
  return Promise.all(
    runs.map(async ({ region, deps, input }): Promise<RegionResult> => {
      if (deps instanceof Error) return { region, error: deps };
      try {
        return { region, planned: await planOnce(deps, state(), input, signal) };
      } catch (error) {
        // The state failing is no region's failure; an interruption is the run's.
        if (error instanceof StateError || signal?.aborted) throw error;
        return { region, error: error as Error };
      }
    }),
  );
}

export async function reconcileRegions(
  runs: readonly RegionRun[],
  hooks: RegionHooks,
  options: ExecutorOptions,
): Promise<RegionResult[]> {
  const recorder = runs.find(
    (run): run is RegionRun & { deps: Exclude<RegionRun['deps'], Error> } => !(run.deps instanceof Error),
  )?.deps.recorder;
  await recorder?.flush();
  const planned = await planRegions(runs, () => recorder!.state, options.abort);
  hooks.planned(planned);
  const ready = (result: RegionResult) =>
    result.planned !== undefined && result.planned.refusal === undefined && hasWork(result.planned.plan);
  if (!planned.some(ready) || !(await hooks.confirm(planned))) return planned;
  return Promise.all(
    planned.map(async (result, index): Promise<RegionResult> => {
      const { deps } = runs[index]!;
      const { planned: plan } = result;
      if (plan === undefined || !ready(result) || deps instanceof Error) return result;
      try {
        return { region: result.region, planned: plan, summary: await executePlan(plan.plan, deps, options) };
      } catch (error) {
        if (error instanceof StateError || options.abort?.aborted) throw error;
        return { region: result.region, planned: plan, error: error as Error };
      }
    }),
  );
}
