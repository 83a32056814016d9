// `imsync watch`: the reconcile daemon, its HTTP endpoints, its logs and its signals.
import { once } from 'node:events';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { systemClock } from '../clock.js';
import { StateRecorder } from '../state/recorder.js';
import type { Phase } from '../state/model.js';
import { Daemon } from '../watch/daemon.js';
import { startStatusServer } from '../watch/http.js';
import { createMetrics } from '../watch/metrics.js';
import { watchManifests } from '../watch/watcher.js';
import type { ApplyCommandOptions } from './apply-command.js';
import { DEFAULT_LISTEN, DEFAULT_MANIFESTS, resolveSettings, UsageError } from './config.js';
import { resolveTarget } from './connect.js';
import { openSession, type Session } from './session.js';
import { parseDuration, parseExecutorFlags, parsePlanFlags } from './flags.js';
import { accountChanged } from '../state/account.js';
import { printable } from '../text.js';
import { applyEventToJson } from './render-apply.js';

/** A burst of file events (a git checkout, an editor's save) settles within this. */
const DEBOUNCE_MS = 300;

export interface WatchCommandOptions extends Omit<
  ApplyCommandOptions,
  'plan' | 'autoApprove' | 'json' | 'detailedExitcode' | 'refresh' | 'refreshOnly'
> {
  interval?: string;
  listen?: string;
}

/** Runs until SIGINT or SIGTERM; returns 0 after a graceful shutdown. */
export async function watchCommand(
  paths: string[],
  options: WatchCommandOptions,
  env: NodeJS.ProcessEnv,
  isTTY: boolean,
): Promise<number> {
  const settings = resolveSettings(options, env);
  const intervalMs = parseDuration(options.interval ?? '5m', '--interval');
  if (intervalMs < 1000) throw new UsageError('--interval must be at least 1s');
  const listen = parseListen(options.listen ?? DEFAULT_LISTEN);
  const { parallelism, lockWaitMs, settleGraceMs } = parseExecutorFlags(options);
  const { policy, maxPrune, force } = parsePlanFlags(options);
  const startTarget = resolveTarget(options, env, settings.region);
  const manifests = paths.length > 0 ? paths : [DEFAULT_MANIFESTS];

  const loggerOptions = { level: 'info', timestamp: pino.stdTimeFunctions.isoTime };
  const logger = isTTY
    ? pino(loggerOptions, pretty({ colorize: true, sync: true }))
    : pino(loggerOptions, pino.destination({ dest: 1, sync: true }));
  // pino-pretty prints texts as they are: those from IMS go printable, as every other output does.
  const log = (level: 'info' | 'warn' | 'error', message: string, fields: object = {}) =>
    logger[level](
      Object.fromEntries(
        Object.entries(fields).map(([name, value]) => [name, typeof value === 'string' ? printable(value) : value]),
      ),
      printable(message),
    );

  // The lock is held for the daemon's life: a second daemon or an apply fails fast, naming us.
  const lock = await settings.store.lock('imsync watch', lockWaitMs);
  let session: Session | undefined;
  try {
    const state = await settings.store.read();
    const recorder = new StateRecorder(settings.store, state);
    const metrics = createMetrics({
      phases: () => {
        const phases: Record<Phase, number> = { submitting: 0, submitted: 0, succeeded: 0, failed: 0 };
        for (const [, record] of recorder.entries()) phases[record.phase]++;
        return phases;
      },
      stateStats: () => settings.store.stats(),
    });
    session = await openSession(startTarget, settings.region, state, settings.store.location, {
      onResponse: ({ route, status }) => metrics.apiResponse(route, status),
    });
    const { client, region, account, target } = session;
    const { connection } = target;
    if (accountChanged(state, account)) await recorder.rewrite((s) => ({ ...s, account }));
    const daemon = new Daemon(
      {
        ims: client,
        recorder,
        clock: systemClock,
        random: Math.random,
        metrics,
        log,
        onEvent: (event) => {
          metrics.event(event);
          // The log line has its own time.
          const { type, time, ...fields } = applyEventToJson(event) as { type: string; time: string };
          log(event.type === 'import.failed' || event.type === 'action.failed' ? 'warn' : 'info', type, fields);
        },
      },
      {
        paths: manifests,
        ...(region === undefined ? {} : { region }),
        intervalMs,
        parallelism,
        allowReplace: policy.allowReplace,
        prune: policy.prune,
        maxPrune,
        force,
        settleGraceMs,
      },
    );
    const http = await startStatusServer(listen.host, listen.port, {
      daemon,
      recorder,
      metrics,
      paths: manifests,
      stateLocation: settings.store.location,
    }).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the address is in use' : (error.code ?? error.message);
      throw new UsageError(`--listen ${listen.host}:${listen.port}: cannot listen (${why})`);
    });
    const watcher = await watchManifests(manifests, DEBOUNCE_MS, (what) => daemon.trigger(what));
    const onHangup = () => daemon.trigger('SIGHUP: re-reading the manifests and resyncing', true);
    process.on('SIGHUP', onHangup);
    const stopped = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(([signal]) => {
      log('info', 'shutting down', { signal: String(signal) });
      daemon.stop();
    });
    log('info', 'watching', {
      paths: manifests,
      state: settings.store.location,
      endpoint: connection.endpoint,
      listen: `http://${http.address}`,
      interval: options.interval ?? '5m',
    });
    await daemon.run();
    await stopped;
    process.off('SIGHUP', onHangup);
    await watcher.close();
    http.server.close();
    http.server.closeAllConnections();
    log('info', 'stopped; state saved');
    return 0;
  } finally {
    await session?.close();
    await lock.release();
  }
}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) throw new UsageError(`--listen "${value}" must be HOST:PORT, such as 127.0.0.1:9464`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}
