// `imsync watch`: the reconcile daemon, its HTTP endpoints, its logs and its signals.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { systemClock } from '../clock.js';
import { StateRecorder } from '../state/recorder.js';
import type { Phase } from '../state/model.js';
import { Daemon, type DaemonRegion } from '../watch/daemon.js';
import { UNKNOWN_REGION } from '../state/account.js';
import type { State } from '../state/model.js';
import { openRegionSessions, regionSettings, regionTargets, runsSeveralRegions } from './regions.js';
import type { Session } from './session.js';
import { startStatusServer } from '../watch/http.js';
import { LiveView } from '../watch/live.js';
import { Standby, waitToLead } from '../watch/standby.js';
import { createMetrics } from '../watch/metrics.js';
import { httpPoster, Notifier, NotifyTargetError, parseNotifyTargets } from '../watch/notify.js';
import { watchManifests, type ManifestWatcher } from '../watch/watcher.js';
import { directorySource, SourceFollower, type ManifestSource } from '../source/follow.js';
import { gitSetting, type GitFlags } from './git-flags.js';
import { loadSigningKeys, requireSignature, SigningKeysError, type SigningKeys } from '../source/verify.js';
import { readWebhookSecret, verifyWebhook, WebhookSecretError, type WebhookSecret } from '../source/webhook.js';
import type { ApplyCommandOptions } from './apply-command.js';
import {
  DEFAULT_LISTEN,
  DEFAULT_MANIFESTS,
  resolveSettings,
  UsageError,
  type ConnectionOptions,
  type Settings,
} from './config.js';
import { resolveTarget } from './connect.js';
import { openSession } from './session.js';
import { parseDuration, parseExecutorFlags, parsePlanFlags } from './flags.js';
import { accountChanged } from '../state/account.js';
import { describeHolder, StateError, whileLocked, type StateLock } from '../state/store.js';
import { printable } from '../text.js';
import { applyEventToJson } from './render-apply.js';

/**
 * A burst of file events (a git checkout, an editor's save) settles within 150 ms; files that keep
 * changing (a generator rewriting them) are reconciled every 2 s all the same.
 */
const DEBOUNCE = { quietMs: 150, maxWaitMs: 2_000 };

export interface WatchCommandOptions
  extends
    Omit<ApplyCommandOptions, 'plan' | 'autoApprove' | 'json' | 'detailedExitcode' | 'refresh' | 'refreshOnly'>,
    GitFlags {
  interval?: string;
  listen?: string;
  allowedHost?: string[];
  standby?: boolean;
  gitVerify?: string;
  webhookSecretFile?: string;
  notify?: string[];
  notifySecretFile?: string;
}

/**
 * The regions a daemon serves besides its connection's: those --region names, else those
 * IMSYNC_ENDPOINTS names and those the state has served (its manifests are only read later).
 */
function watchedRegions(
  settings: Settings,
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv,
  state: State,
): string[] {
  if (settings.only.length > 0) return [...settings.only];
  if (!runsSeveralRegions(options, env)) return [];
  const named = [...regionSettings(env).endpoints.keys(), ...Object.keys(state.account?.regions ?? {})];
  return [...new Set(named)].filter((region) => region !== UNKNOWN_REGION).sort();
}

/**
 * Runs until SIGINT or SIGTERM; returns 0 after a graceful shutdown, and throws (exit 1) when the
 * state could not be saved.
 */
export async function watchCommand(
  paths: string[],
  options: WatchCommandOptions,
  env: NodeJS.ProcessEnv,
  isTTY: boolean,
): Promise<number> {
  const settings = resolveSettings(options, env);
  // A daemon lives for months beside other services: V8 may then grow its heap to twice what is
  // live, not up to four times, for a little more time in the collector. At 10,000 manifests the
  // peak is about 210 MB resident instead of 270 MB, the latency the same (npm run bench, watch).
  setFlagsFromString('--heap-growing-percent=100');
  const intervalMs = parseDuration(options.interval ?? '5m', '--interval');
  if (intervalMs < 1000) throw new UsageError('--interval must be at least 1s');
  const listen = parseListen(options.listen ?? DEFAULT_LISTEN);
  const allowedHosts = (options.allowedHost ?? []).map(parseAllowedHost);
  const { parallelism, lockWaitMs, settleGraceMs } = parseExecutorFlags(options);
  const { policy, maxPrune, force, preflight } = parsePlanFlags(options);
  const startTarget = resolveTarget(options, env, settings.region);
  for (const [flag, given] of [
    ['--git-verify', options.gitVerify],
    ['--webhook-secret-file', options.webhookSecretFile],
  ] as const) {
    if (given !== undefined && options.git === undefined) throw new UsageError(`${flag} goes with --git`);
  }
  if (options.git !== undefined && paths.length > 0) {
    throw new UsageError(
      `give either --git or manifest paths (${paths.join(' ')}), not both: --git-path names a directory in the repository`,
    );
  }
  const notifyTargets = notifyTargetsOf(options.notify ?? []);
  if (options.notifySecretFile !== undefined && notifyTargets.length === 0) {
    throw new UsageError('--notify-secret-file goes with --notify');
  }
  const hookSecret =
    options.webhookSecretFile === undefined
      ? undefined
      : await secretOf('--webhook-secret-file', options.webhookSecretFile);
  const notifySecret =
    options.notifySecretFile === undefined
      ? undefined
      : await secretOf('--notify-secret-file', options.notifySecretFile);
  const check = options.gitVerify === undefined ? undefined : requireSignature(() => keys!);
  const git = options.git === undefined ? undefined : gitSetting(options, env, check);
  // Read last of all the settings: the keys' private copy is removed when the daemon ends.
  const keys = options.gitVerify === undefined ? undefined : await signingKeys(options.gitVerify);
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

  // Signals are heard from the start: a standby, or a daemon still starting, ends cleanly too.
  const shutdown = new AbortController();
  let daemon: Daemon | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    log('info', 'shutting down', { signal });
    shutdown.abort(signal);
    daemon?.stop();
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const standby = options.standby ? new Standby() : undefined;
  const metrics = createMetrics({
    phases: () => {
      const phases: Record<Phase, number> = { submitting: 0, submitted: 0, succeeded: 0, failed: 0 };
      for (const [, record] of daemon?.recorder.entries() ?? []) phases[record.phase]++;
      return phases;
    },
    stateStats: () => settings.store.stats(),
    leading: () => daemon !== undefined,
    revision: () => daemon?.applied,
  });
  const poster = notifyTargets.length > 0 ? httpPoster() : undefined;
  const notifier =
    poster &&
    new Notifier(notifyTargets, {
      poster,
      clock: systemClock,
      random: Math.random,
      newId: randomUUID,
      host: hostname(),
      ...(notifySecret ? { secret: notifySecret } : {}),
      log,
      metrics,
    });
  const live = new LiveView();
  let follower: SourceFollower | undefined;
  /** The manifests reconciled: a local tree, or the commits of a repository followed. */
  const manifestSource = (): ManifestSource => {
    if (!git) return directorySource(manifests);
    follower = new SourceFollower(git.source, git.intervalMs, {
      clock: systemClock,
      log,
      changed: (checkout) => daemon?.trigger(`new commit ${checkout.commit.slice(0, 12)} of ${checkout.url}`),
      fetched: (result) => {
        metrics.sourceFetched(result);
        live.changed();
      },
    });
    return follower;
  };
  /** A push notification: a fetch at once when it is signed with the secret. */
  const gitHook = (headers: IncomingHttpHeaders, body: Buffer) => {
    const verdict = verifyWebhook({ headers, body }, hookSecret!, Date.now());
    if (!verdict.ok) {
      log('warn', 'webhook refused', { reason: verdict.reason });
      return { status: 401, text: `refused: ${verdict.reason}` };
    }
    const from = `webhook from ${verdict.provider}${verdict.delivery ? ` (delivery ${verdict.delivery})` : ''}`;
    if (!follower) return { status: 202, text: 'standing by: the leading daemon fetches at its next interval' };
    follower.fetchNow(from);
    return { status: 202, text: 'fetching' };
  };
  let http: { server: Server; address: string } | undefined;
  const serve = async () => {
    http ??= await startStatusServer(
      listen.host,
      listen.port,
      {
        role: () => daemon ?? standby!,
        metrics,
        source: git ? { kind: 'git', setting: git, follower: () => follower } : { kind: 'directory', paths: manifests },
        stateLocation: settings.store.location,
        live,
        ...(hookSecret ? { gitHook: (headers, body) => gitHook(headers, body) } : {}),
      },
      { allowedHosts },
    ).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the address is in use' : (error.code ?? error.message);
      throw new UsageError(`--listen ${listen.host}:${listen.port}: cannot listen (${why})`);
    });
    return http;
  };
  try {
    // The lock is held for the daemon's life: it is the leadership. Without --standby a second
    // daemon or an apply fails fast, naming the holder; a standby answers its endpoints meanwhile.
    let lock: StateLock | undefined;
    if (standby) {
      const { address } = await serve();
      log('info', 'standing by', { state: settings.store.location, listen: `http://${address}` });
      lock = await waitToLead(settings.store, 'imsync watch', standby, systemClock, shutdown.signal, (leader) =>
        log('info', 'another daemon leads', leader ? { leader: describeHolder(leader) } : {}),
      );
      if (!lock) return 0;
      log('info', 'leading: the state lock is ours');
    } else {
      lock = await settings.store.lock('imsync watch', lockWaitMs);
    }
    notifier?.tell({ kind: 'leading', previous: standby?.leader });
    // A lock that is lost (its database session gone or cut off) is leadership lost: step down at
    // once, before the server frees the lock for a standby, and exit for the supervisor to restart.
    const { lost } = lock;
    const lostWhy = () => (lost?.reason instanceof Error ? lost.reason.message : String(lost?.reason));
    const stepDown = () => {
      log('error', 'lost the state lock: stepping down', { reason: lostWhy() });
      notifier?.tell({ kind: 'lost', reason: lostWhy(), revision: daemon?.applied });
      daemon?.stop();
    };
    lost?.addEventListener('abort', stepDown, { once: true });
    return await whileLocked(lock, async () => {
      const state = await settings.store.read();
      const recorder = new StateRecorder(settings.store, state);
      const session = await openSession(startTarget, settings.region, state, settings.store.location, {
        onResponse: ({ route, status }) => metrics.apiResponse(route, status),
      });
      const onHangup = () => {
        follower?.fetchNow('SIGHUP');
        daemon?.trigger('SIGHUP: re-reading the manifests and resyncing', true);
      };
      let watcher: ManifestWatcher | undefined;
      const following = new AbortController();
      let followed: Promise<void> | undefined;
      // The other regions this daemon serves, each on its own IMS (or failing alone).
      const others = options.emulator
        ? []
        : watchedRegions(settings, options, env, state).filter((r) => r !== session.region);
      const regionTargetsFound =
        others.length > 0 ? await regionTargets(others, settings.region, options, env, state) : undefined;
      const otherSessions: Session[] = [];
      try {
        const { client, region, target } = session;
        const regions: DaemonRegion[] = [];
        const opened = await openRegionSessions(regionTargetsFound?.targets ?? [], state, settings.store.location, {
          onResponse: ({ route, status }) => metrics.apiResponse(route, status),
        });
        for (const each of opened) {
          if ('error' in each) {
            regions.push(each);
            continue;
          }
          otherSessions.push(each.session);
          regions.push({ region: each.region, ims: each.session.client, preflight: each.session.preflight(preflight) });
        }
        const account = { regions: { ...session.account.regions } };
        for (const other of otherSessions) Object.assign(account.regions, other.account.regions);
        if (accountChanged(state, account)) await recorder.rewrite((s) => ({ ...s, account }));
        const leader = new Daemon(
          {
            ims: client,
            recorder,
            clock: systemClock,
            random: Math.random,
            preflight: session.preflight(preflight),
            ...(regions.length === 0
              ? {}
              : {
                  regions: [
                    { region: region ?? 'default', ims: client, preflight: session.preflight(preflight) },
                    ...regions,
                  ],
                }),
            metrics,
            log,
            onEvent: (event, revision) => {
              metrics.event(event);
              live.event(event);
              // The log line has its own time.
              const { type, time, ...fields } = applyEventToJson(event) as { type: string; time: string };
              const level = event.type === 'import.failed' || event.type === 'action.failed' ? 'warn' : 'info';
              log(level, type, revision ? { ...fields, revision: revision.commit } : fields);
              notifier?.tell({ kind: 'event', event, revision });
            },
            onNotice: (notice, revision) => {
              // The end of a reconcile changes the status page too.
              if (notice.type === 'reconciled') live.changed();
              notifier?.tell({ kind: 'notice', notice, revision });
            },
          },
          {
            source: manifestSource(),
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
        daemon = leader;
        const { address } = await serve();
        if (follower) followed = follower.run(following.signal);
        else watcher = await watchManifests(manifests, DEBOUNCE, (what, paths) => leader.trigger(what, false, paths));
        process.on('SIGHUP', onHangup);
        log('info', 'watching', {
          ...(git ? { git: git.source.url, ref: git.source.ref, path: git.path } : { paths: manifests }),
          state: settings.store.location,
          endpoint: target.connection.endpoint,
          listen: `http://${address}`,
          interval: options.interval ?? '5m',
        });
        if (shutdown.signal.aborted || lost?.aborted) leader.stop();
        await leader.run().catch((error: unknown) => {
          if (lost?.aborted) return;
          const why = error instanceof Error ? error.message : String(error);
          log('error', 'stopped; the state could not be saved', { error: why });
          throw new StateError(
            'STATE_UNWRITABLE',
            `the state could not be written (${why}); the state last written stands, and the next start follows or settles what it lacks`,
          );
        });
      } finally {
        process.off('SIGHUP', onHangup);
        following.abort();
        await followed;
        await watcher?.close();
        for (const other of otherSessions) await other.close();
        await regionTargetsFound?.close();
        await session.close();
      }
      if (lost?.aborted) {
        throw new StateError(
          'LOCK_HELD',
          `the lock of ${settings.store.location} was lost (${lostWhy()}); stepped down, as another daemon may lead now`,
        );
      }
      log('info', 'stopped; state saved');
      return 0;
    });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await keys?.close();
    await notifier?.close();
    await poster?.close();
    // Whatever ends the daemon, nothing it opened keeps the process alive.
    http?.server.close();
    http?.server.closeAllConnections();
  }
}

/** `--allowed-host`: a DNS name, as a Host header carries it without its port. */
function parseAllowedHost(name: string): string {
  if (!/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/i.test(name)) {
    throw new UsageError(`--allowed-host "${name}" must be a host name such as imsync.example.com, without a port`);
  }
  return name;
}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) throw new UsageError(`--listen "${value}" must be HOST:PORT, such as 127.0.0.1:9464`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** `--git-verify FILE`: the allowed keys, read once at start. */
async function signingKeys(file: string): Promise<SigningKeys> {
  return loadSigningKeys(resolve(file)).catch((error: unknown) => {
    throw error instanceof SigningKeysError ? new UsageError(`--git-verify ${error.message}`) : error;
  });
}

/** `--webhook-secret-file FILE` or `--notify-secret-file FILE`, read once at start. */
async function secretOf(flag: string, file: string): Promise<WebhookSecret> {
  return readWebhookSecret(file).catch((error: unknown) => {
    throw error instanceof WebhookSecretError ? new UsageError(`${flag}: ${error.message}`) : error;
  });
}

function notifyTargetsOf(values: readonly string[]) {
  try {
    return parseNotifyTargets(values);
  } catch (error) {
    throw error instanceof NotifyTargetError ? new UsageError(error.message) : error;
  }
}
