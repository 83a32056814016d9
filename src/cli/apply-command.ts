// `imsync apply`: plan (or read a saved plan), show, confirm, execute, report. Everything that can
// be checked is checked before anything is sent, and the state lock is held from planning to the
// last write.
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { systemClock } from '../clock.js';
import { specialFileKind } from '../manifest/load.js';
import type { ExecutorOptions } from '../apply/executor.js';
import { decodePlan, encodePlan, PlanFileError } from '../plan/codec.js';
import { blockedEntries, type Plan } from '../plan/plan.js';
import { reconcileOnce, type Planned } from '../reconcile/reconcile.js';
import { accountChanged } from '../state/account.js';
import { StateRecorder } from '../state/recorder.js';
import type { PreflightCache, RegionAccount, State } from '../state/model.js';
import { mergeCaches, sameCache } from '../preflight/preflight.js';
import { runRegions, type RunRegions } from '../plan/regions.js';
import { reconcileRegions, type RegionRun } from '../reconcile/regions.js';
import type { Manifest } from '../manifest/types.js';
import { openRegionSessions, regionTargets, runsSeveralRegions } from './regions.js';
import { StateError, whileLocked } from '../state/store.js';
import { EXIT, loadOrReport } from './commands.js';
import { resolveSettings, UsageError, type ConnectionOptions, type GlobalOptions, type Settings } from './config.js';
import { resolveTarget } from './connect.js';
import { parseDuration, parseExecutorFlags, parsePlanFlags, type ExecutorFlags, type PlanFlags } from './flags.js';
import type { Output } from './output.js';
import { createProgressRenderer, progressMode } from './render-apply.js';
import { leftElsewhere, renderPlan } from './render-plan.js';
import { listenForInterrupts } from './interrupt.js';
import { openSession, type Session } from './session.js';

export const EXIT_INTERRUPTED = 130;
/** apply stopped waiting (--wait-timeout) with jobs still running; the next apply follows them. */
export const EXIT_STILL_RUNNING = 3;
/** Real imports take tens of minutes; Huawei's Packer plugin waits 60. */
const DEFAULT_WAIT_TIMEOUT = '2h';

export interface ApplyCommandOptions extends GlobalOptions, ConnectionOptions, ExecutorFlags, PlanFlags {
  plan?: string;
  autoApprove?: boolean;
  json?: boolean;
  detailedExitcode?: boolean;
  waitTimeout?: string;
}

/** The process around the command: what tests and the daemon replace. */
export interface Terminal {
  readonly interactive: boolean;
  readonly isTTY: boolean;
  /** Asks a question on the terminal; rejects when the signal aborts. */
  readonly ask: (question: string, signal: AbortSignal) => Promise<string>;
}

export function processTerminal(): Terminal {
  return {
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    isTTY: Boolean(process.stdout.isTTY),
    ask: async (question, signal) => {
      const readline = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return await readline.question(question, { signal });
      } finally {
        readline.close();
      }
    },
  };
}

/** Flags that a saved plan already decided. */
const DECIDED_BY_PLAN = ['allowReplace', 'prune', 'maxPrune', 'force', 'refresh', 'refreshOnly'] as const;

export async function applyCommand(
  paths: string[],
  options: ApplyCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
  terminal: Terminal,
): Promise<number> {
  // Flags and environment first: a mistake there reads and sends nothing.
  const settings = resolveSettings(options, env);
  const { parallelism, lockWaitMs, settleGraceMs } = parseExecutorFlags(options);
  const flags = parsePlanFlags(options);
  const waitTimeoutMs = parseDuration(options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT, '--wait-timeout');
  if (options.plan && paths.length > 0) throw new UsageError('give manifest paths or --plan FILE, not both');
  const decided = DECIDED_BY_PLAN.filter((flag) => options[flag] !== undefined);
  if (options.plan && decided.length > 0) {
    throw new UsageError(
      `the saved plan already decided what --${decided.map(kebab).join(', --')} would; make a new plan to change it`,
    );
  }
  const saved = options.plan ? await readSavedPlan(options.plan) : undefined;
  if (!saved && !options.autoApprove && !terminal.interactive) {
    throw new UsageError('apply asks for confirmation on a terminal; without one, pass --auto-approve');
  }
  // Several regions (a run anchored in a default region) find their projects themselves: a
  // missing HW_PROJECT_ID is no error then.
  const several = !saved && settings.region !== undefined && runsSeveralRegions(options, env);
  const startTarget = several
    ? () => resolveTarget(options, env, settings.region)()
    : resolveTarget(options, env, settings.region);
  const manifests = saved
    ? []
    : await loadOrReport(paths.length > 0 ? paths : ['manifests/'], options.json ? 'json' : 'text', output);
  if (!manifests) return EXIT.error;

  // Interrupted while waiting for the lock, apply has done nothing: the signal's default ends it.
  const lock = await settings.store.lock('imsync apply', lockWaitMs);
  const { stop, abort, dispose } = listenForInterrupts();
  let session: Session | undefined;
  return whileLocked(lock, async () => {
    try {
      const state = await settings.store.read();
      if (saved) checkBasis(saved, options.plan!, state, settings.store.location);
      const scope =
        saved || !runsSeveralRegions(options, env)
          ? undefined
          : runRegions(manifests, state, settings.region, settings.only);
      if (
        scope &&
        (scope.regions.length > 1 || (scope.regions[0] !== undefined && scope.regions[0] !== settings.region))
      ) {
        return await applyEveryRegion({
          ...scope,
          manifests,
          state,
          settings,
          flags,
          executing: executing({ parallelism, settleGraceMs, waitTimeoutMs, stop, abort }),
          options,
          env,
          output,
          terminal,
        });
      }
      // Without a refresh, nothing would try the credentials before the first import is sent.
      const verify = saved !== undefined || flags.refresh === 'skip';
      session = await openSession(startTarget, settings.region, state, settings.store.location, {}, verify);
      const { client, region, account } = session;
      const recorder = new StateRecorder(settings.store, state);
      const renderer = createProgressRenderer(progressMode(Boolean(options.json), terminal.isTTY), output);
      let refusal: string | undefined;
      let blocked = 0;
      let checked: PreflightCache | undefined;
      let answer = 'yes' as 'yes' | 'no' | 'interrupted';
      try {
        const reconciled = await reconcileOnce(
          {
            ims: client,
            recorder,
            clock: systemClock,
            newAttemptId: () => randomUUID().replaceAll('-', ''),
            emit: renderer.emit,
            // A saved plan's files were checked when it was made.
            ...(saved ? {} : { preflight: session.preflight(flags.preflight) }),
          },
          saved
            ? { saved }
            : { ...flags, manifests, ...(region === undefined ? {} : { region }), graceMs: settleGraceMs },
          {
            planned: (planned) => {
              show(planned, options, output);
              refusal = planned.refusal;
              blocked = blockedEntries(planned.plan).length;
              checked = planned.preflightCache;
            },
            confirm: async () => {
              if (saved === undefined && !options.autoApprove) answer = await confirm(terminal, stop);
              // The state learns its account (and what the pre-flight found fine) with its first
              // change, so that a plan that changes nothing writes nothing.
              const cache = checked && !sameCache(checked, state.preflight) ? { preflight: checked } : {};
              if (answer === 'yes' && (accountChanged(state, account) || 'preflight' in cache))
                await recorder.rewrite((s) => ({ ...s, account, ...cache }));
              return answer === 'yes';
            },
          },
          executing({ parallelism, settleGraceMs, waitTimeoutMs, stop, abort }),
        ).catch((error: unknown) => {
          // Cut off by the interruption (in a refresh, say): what was sent is recorded.
          if (abort.aborted && !(error instanceof StateError)) return undefined;
          throw error;
        });
        if (reconciled === undefined) {
          output.err(`imsync: interrupted (${String(abort.reason)}); the state is saved\n`);
          return EXIT_INTERRUPTED;
        }
        const { summary } = reconciled;
        if (refusal !== undefined) {
          output.err(`imsync: ${refusal}; nothing was sent\n`);
          return EXIT.error;
        }
        if (stop.aborted) return EXIT_INTERRUPTED;
        if (answer === 'no') {
          output.err('Apply cancelled; nothing was sent.\n');
          return EXIT.error;
        }
        if ((summary?.failed ?? 0) > 0) return EXIT.error;
        if ((summary?.stillRunning ?? 0) > 0) return EXIT_STILL_RUNNING;
        return options.detailedExitcode && blocked > 0 ? EXIT.changes : EXIT.ok;
      } finally {
        renderer.close();
      }
    } finally {
      await session?.close();
      dispose();
    }
  });
}

interface EveryRegion extends RunRegions {
  readonly manifests: readonly Manifest[];
  readonly state: State;
  readonly options: ApplyCommandOptions;
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
  readonly terminal: Terminal;
  /** What the command read of its flags and settings: read once, the store the lock is held on. */
  readonly settings: Settings;
  readonly flags: ReturnType<typeof parsePlanFlags>;
  readonly executing: ExecutorOptions;
}

/**
 * Apply over several regions: each planned against its own IMS, shown under its name, confirmed
 * once, carried out with its own budget and import cap. A region that fails is said and fails the
 * exit code; the others go on.
 */
async function applyEveryRegion(run: EveryRegion): Promise<number> {
  const { options, env, output, terminal, state } = run;
  const { settings, flags } = run;
  const { settleGraceMs } = run.executing;
  if (run.leftOut.length > 0) output.err(`imsync: regions left alone (--region): ${run.leftOut.join(', ')}\n`);
  const found = await regionTargets(run.regions, settings.region, options, env, state);
  const sessions: Session[] = [];
  const recorder = new StateRecorder(settings.store, state);
  const renderer = createProgressRenderer(progressMode(Boolean(options.json), terminal.isTTY), output);
  try {
    const opened = await openRegionSessions(found.targets, state, settings.store.location);
    for (const each of opened) if ('session' in each) sessions.push(each.session);
    const runs: RegionRun[] = opened.map((opened) => ({
      region: opened.region,
      input: {
        ...flags,
        manifests: run.manifests,
        region: opened.region,
        ...(settings.region === undefined ? {} : { defaultRegion: settings.region }),
        graceMs: settleGraceMs,
      },
      deps:
        'error' in opened
          ? opened.error
          : {
              ims: opened.session.client,
              recorder,
              clock: systemClock,
              newAttemptId: () => randomUUID().replaceAll('-', ''),
              emit: renderer.emit,
              preflight: opened.session.preflight(flags.preflight),
            },
    }));
    let answer = 'yes' as 'yes' | 'no' | 'interrupted';
    const results = await reconcileRegions(
      runs,
      {
        planned: (planned) => {
          for (const result of planned) {
            if (!options.json && planned.length > 1) output.out(`\n${output.color.bold(`Region ${result.region}:`)}\n`);
            // Every region is this run's: none is left for another.
            if (result.planned) show({ ...result.planned, elsewhere: [] }, options, output);
            else output.err(`imsync: region ${result.region} failed: ${result.error.message}\n`);
          }
        },
        confirm: async (planned) => {
          if (!options.autoApprove) answer = await confirm(terminal, run.executing.stop);
          const regions: Record<string, RegionAccount> = { ...state.account?.regions };
          for (const session of sessions) Object.assign(regions, session.account.regions);
          const account = { regions };
          const caches = planned.flatMap((result) =>
            result.planned?.preflightCache ? [result.planned.preflightCache] : [],
          );
          const cache = caches.length === 0 ? undefined : mergeCaches(caches);
          const keep = cache && !sameCache(cache, state.preflight) ? { preflight: cache } : {};
          if (answer === 'yes' && (accountChanged(state, account) || 'preflight' in keep))
            await recorder.rewrite((s) => ({ ...s, account, ...keep }));
          return answer === 'yes';
        },
      },
      run.executing,
    );
    await recorder.flush();
    if (answer === 'no') {
      output.err('Apply cancelled; nothing was sent.\n');
      return EXIT.error;
    }
    let failed = false;
    for (const result of results) {
      if (result.planned?.refusal !== undefined)
        output.err(`imsync: region ${result.region}: ${result.planned.refusal}; nothing was sent there\n`);
      if (result.planned && result.error)
        output.err(`imsync: region ${result.region} failed: ${result.error.message}\n`);
      failed ||=
        result.error !== undefined || result.planned?.refusal !== undefined || (result.summary?.failed ?? 0) > 0;
    }
    const regionsFailed = results.filter((result) => result.error !== undefined).map((result) => result.region);
    if (regionsFailed.length > 0) {
      output.err(
        `imsync: ${regionsFailed.length} of ${results.length} regions failed (${regionsFailed.join(', ')}); the others were carried out\n`,
      );
    }
    if (run.executing.stop.aborted) return EXIT_INTERRUPTED;
    if (failed) return EXIT.error;
    return results.some((result) => (result.summary?.stillRunning ?? 0) > 0) ? EXIT_STILL_RUNNING : EXIT.ok;
  } finally {
    renderer.close();
    for (const session of sessions) await session.close();
    await found.close();
  }
}

/** How apply's executors run: the flags' parallelism and waits, and its rounds of following. */
function executing(
  given: Pick<ExecutorOptions, 'parallelism' | 'settleGraceMs' | 'waitTimeoutMs' | 'stop'> & { abort: AbortSignal },
): ExecutorOptions {
  return { ...given, pollMinMs: 1000, pollMaxMs: 15_000, deleteTimeoutMs: 10 * 60_000 };
}

function show(planned: Planned, options: ApplyCommandOptions, output: Output): void {
  if (options.json) output.out(`${JSON.stringify(encodePlan(planned.plan))}\n`);
  else renderPlan(planned, output);
  if (planned.elsewhere.length > 0) {
    output.err(`imsync: ${leftElsewhere(planned.elsewhere, 'apply')}\n`);
  }
}

/** 'yes', no, or interrupted while asking. */
async function confirm(terminal: Terminal, signal: AbortSignal): Promise<'yes' | 'no' | 'interrupted'> {
  const answer = await terminal
    .ask("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ", signal)
    .catch(() => '');
  if (signal.aborted) return 'interrupted';
  return answer.trim() === 'yes' ? 'yes' : 'no';
}

/**
 * A saved plan applies only to the state it was made against, as it was then. A plan made before
 * there was a state (no lineage yet) has only its serial to go by.
 */
function checkBasis(saved: Plan, path: string, state: State, location: string): void {
  const { lineage, serial } = saved.basis;
  if (lineage !== '' && lineage !== state.lineage) {
    const now = state.lineage === '' ? 'there is none' : `lineage ${state.lineage}`;
    throw new StateError(
      'STATE_CONFLICT',
      `the saved plan ${path} was made against another state (lineage ${lineage}) than ${location} holds (${now}); make a new plan`,
    );
  }
  if (serial !== state.serial) {
    throw new StateError(
      'STATE_CONFLICT',
      `the saved plan ${path} was made against serial ${serial} of the state, which is now at serial ${state.serial}; make a new plan`,
    );
  }
}

async function readSavedPlan(path: string): Promise<Plan> {
  const unreadable = (why: string) => new PlanFileError(`--plan ${path}: cannot be read (${why})`);
  // Reading a FIFO (or a device) would wait for ever: only a regular file is opened.
  const info = await stat(path).catch((error: Error) => {
    throw unreadable(error.message);
  });
  if (!info.isFile()) {
    throw unreadable(info.isDirectory() ? 'a directory' : `${specialFileKind(info)}, not a regular file`);
  }
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw unreadable(error.message);
  });
  return decodePlan(text, path);
}

function kebab(flag: string): string {
  return flag.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
