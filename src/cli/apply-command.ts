// `imsync apply`: plan, show, confirm, execute, report. Everything that can be checked is checked
// before anything is sent, and the state lock is held from planning to the last write.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { executePlan } from '../apply/executor.js';
import { systemClock } from '../clock.js';
import { ImsClient } from '../ims/client.js';
import { loadManifests } from '../manifest/load.js';
import { forRegion, hasChanges, planChanges } from '../plan/plan.js';
import { StateRecorder } from '../state/recorder.js';
import { StateError } from '../state/store.js';
import { EXIT } from './commands.js';
import { resolveSettings, UsageError, type ConnectionOptions, type GlobalOptions } from './config.js';
import { resolveTarget, type Target } from './connect.js';
import { parseExecutorFlags, type ExecutorFlags } from './flags.js';
import type { Output } from './output.js';
import { readPlanFile } from './plan-file.js';
import { createProgressRenderer, progressMode } from './render-apply.js';
import { diagnosticsAsJson, renderDiagnostics } from './render-diagnostics.js';
import { planToJson, renderPlan } from './render-plan.js';

export const EXIT_INTERRUPTED = 130;

export interface ApplyCommandOptions extends GlobalOptions, ConnectionOptions, ExecutorFlags {
  plan?: string;
  autoApprove?: boolean;
  json?: boolean;
  allowReplace?: boolean;
  prune?: boolean;
  emulator?: boolean;
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
  if (options.plan && paths.length > 0) throw new UsageError('give manifest paths or --plan FILE, not both');
  if (!options.autoApprove && !terminal.interactive) {
    throw new UsageError('apply asks for confirmation on a terminal; without one, pass --auto-approve');
  }
  const startTarget = resolveTarget(options, env, settings.region);

  const saved = options.plan ? await readPlanFile(options.plan) : undefined;
  const loaded = saved ? undefined : await loadManifests(paths.length > 0 ? paths : ['manifests/']);
  if (loaded && loaded.diagnostics.length > 0) {
    if (options.json) output.out(diagnosticsAsJson(loaded.diagnostics));
    else renderDiagnostics(loaded.diagnostics, output);
    return EXIT.error;
  }

  const stop = new AbortController();
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) abort.abort(signal);
    else stop.abort(signal);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const lock = await settings.store.lock('imsync apply', lockWaitMs);
  let target: Target | undefined;
  let client: ImsClient | undefined;
  try {
    const state = await settings.store.read();
    if (saved && (saved.basis.lineage !== state.lineage || saved.basis.serial !== state.serial)) {
      throw new StateError(
        'STATE_CONFLICT',
        `the saved plan ${options.plan} was made against serial ${saved.basis.serial} of the state, which is now at serial ${state.serial}; make a new plan`,
      );
    }
    const manifests = saved?.manifests ?? loaded!.manifests;
    target = await startTarget();
    const { connection } = target;
    const region = connection.region ?? settings.region;
    const full = planChanges(manifests, state, region === undefined ? {} : { defaultRegion: region });
    const { plan, elsewhere } = forRegion(full, region);

    if (options.json) output.out(`${JSON.stringify(planToJson(plan))}\n`);
    else renderPlan(plan, output);
    if (elsewhere.length > 0) {
      output.err(
        `imsync: changes in other regions (${elsewhere.join(', ')}) are left for an apply connected there (--region, with that region's project id)\n`,
      );
    }
    const work = plan.entries.some((e) => e.action === 'in-progress') || hasChanges(plan);
    if (!work) return EXIT.ok;
    if (!options.autoApprove) {
      const answer = await terminal
        .ask("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ", stop.signal)
        .catch(() => '');
      if (stop.signal.aborted) return EXIT_INTERRUPTED;
      if (answer.trim() !== 'yes') {
        output.err('Apply cancelled; nothing was sent.\n');
        return EXIT.error;
      }
    }

    client = new ImsClient({ endpoint: connection.endpoint, projectId: connection.projectId, auth: connection.auth });
    const renderer = createProgressRenderer(progressMode(Boolean(options.json), terminal.isTTY), output);
    try {
      const summary = await executePlan(
        plan,
        {
          ims: client,
          recorder: new StateRecorder(settings.store, state),
          clock: systemClock,
          newAttemptId: () => randomUUID().replaceAll('-', ''),
          emit: renderer.emit,
        },
        {
          parallelism,
          allowReplace: Boolean(options.allowReplace),
          prune: Boolean(options.prune),
          settleGraceMs,
          pollMinMs: 1000,
          pollMaxMs: 15_000,
          stop: stop.signal,
          abort: abort.signal,
        },
      );
      if (stop.signal.aborted) return EXIT_INTERRUPTED;
      return summary.failed > 0 ? EXIT.error : EXIT.ok;
    } finally {
      renderer.close();
    }
  } finally {
    await client?.close();
    await target?.close();
    await lock.release();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
