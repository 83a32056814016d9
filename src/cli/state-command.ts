// `imsync state list | show | rm | mv | rebuild | migrate`: the state's records, read and moved by
// hand, as Terraform's state commands do. Only rebuild talks to IMS; the others touch the state alone.
import { systemClock } from '../clock.js';
import type { Manifest } from '../manifest/types.js';
import { observeAccount } from '../refresh/observe.js';
import { refresh } from '../refresh/refresh.js';
import { encodeState } from '../state/codec.js';
import { emptyState, STATE_VERSION, withChanges, type ImageRecord, type State } from '../state/model.js';
import { StateError, whileLocked, type StateStore } from '../state/store.js';
import { jsonText } from '../text.js';
import { EXIT, loadOrReport } from './commands.js';
import { openLocation, resolveSettings, UsageError, type ConnectionOptions, type GlobalOptions } from './config.js';
import { resolveTarget } from './connect.js';
import { parseLockTimeout, parseSettleGrace } from './flags.js';
import type { Output } from './output.js';
import { plural } from './render-diagnostics.js';
import { openSession } from './session.js';

const KEY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface StateCommandOptions extends GlobalOptions, ConnectionOptions {
  json?: boolean;
  lockTimeout?: string;
}

export async function stateListCommand(options: StateCommandOptions, env: NodeJS.ProcessEnv, output: Output) {
  const { store } = resolveSettings(options, env);
  const state = await store.read();
  const keys = Object.keys(state.images).sort();
  if (options.json) {
    output.out(encodeState(state));
    return EXIT.ok;
  }
  if (keys.length === 0) {
    output.out(`${store.location} records no image.\n`);
    return EXIT.ok;
  }
  const rows = keys.map((key) => {
    const record = state.images[key]!;
    return [key, record.phase, record.imageId ?? '-', record.region ?? '-', record.updatedAt];
  });
  const header = ['KEY', 'PHASE', 'IMAGE', 'REGION', 'UPDATED'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows])
    output.out(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  return EXIT.ok;
}

export async function stateShowCommand(
  key: string,
  options: StateCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
) {
  const { store } = resolveSettings(options, env);
  const record = (await store.read()).images[key];
  if (!record) throw unknownKey(store, key);
  output.out(`${jsonText({ key, ...record }, options.json ? undefined : 2)}\n`);
  return EXIT.ok;
}

/** Forgets records; their images stay in the account. */
export async function stateRmCommand(
  keys: string[],
  options: StateCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
) {
  const { store } = resolveSettings(options, env);
  return withLock(store, 'imsync state rm', options, async (state) => {
    for (const key of keys) if (!state.images[key]) throw unknownKey(store, key);
    await store.write(withChanges(state, new Map(keys.map((key) => [key, null]))));
    for (const key of keys) {
      const { imageId } = state.images[key]!;
      output.out(
        `Removed ${key} from ${store.location}; ${imageId ? `image ${imageId}` : 'its import'} stays in the account.\n`,
      );
    }
    output.out(
      'Its imsync-key tag stays too: while a manifest has the key, the next refresh adopts the image again.\n',
    );
    return EXIT.ok;
  });
}

/** Moves a record to another key; the next apply retags its image to match. */
export async function stateMvCommand(
  from: string,
  to: string,
  options: StateCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
) {
  const { store } = resolveSettings(options, env);
  if (!KEY.test(to) || to.length > 36) {
    throw new UsageError(`"${to}" is not a manifest key: at most 36 lowercase letters, digits and '-'`);
  }
  return withLock(store, 'imsync state mv', options, async (state) => {
    const record = state.images[from];
    if (!record) throw unknownKey(store, from);
    if (state.images[to])
      throw new UsageError(`${to} is already recorded in ${store.location}; \`imsync state rm ${to}\` first`);
    await store.write(
      withChanges(
        state,
        new Map<string, ImageRecord | null>([
          [from, null],
          [to, record],
        ]),
      ),
    );
    output.out(
      `Moved ${from} to ${to} in ${store.location}. Its image still carries imsync-key=${from}; the next apply sets it to ${to}.\n`,
    );
    return EXIT.ok;
  });
}

/**
 * A lost or corrupt state rebuilt from the account: every image carrying imsync's key tag for a
 * key some manifest has is recorded (as `refresh` adopts one), under a new lineage. Nothing is
 * imported; the old file is kept aside.
 */
export async function stateRebuildCommand(
  paths: string[],
  options: StateCommandOptions & { emulator?: boolean },
  env: NodeJS.ProcessEnv,
  output: Output,
) {
  const settings = resolveSettings(options, env);
  const startTarget = resolveTarget(options, env, settings.region);
  const manifests = await loadOrReport(paths, 'text', output);
  if (!manifests) return EXIT.error;
  const { store } = settings;
  const lock = await store.lock('imsync state rebuild', parseLockTimeout(options.lockTimeout));
  return whileLocked(lock, async () => {
    // A state that cannot be read is what rebuild is for; one that can still names its account.
    const old = await store.read().catch((error: unknown) => {
      if (error instanceof StateError) return emptyState();
      throw error;
    });
    const session = await openSession(startTarget, settings.region, old, store.location);
    try {
      const found = await rebuiltRecords(session.client, manifests, session.region);
      const rebuilt = await store.rebuild({
        version: STATE_VERSION,
        lineage: '',
        serial: 0,
        account: session.account,
        images: Object.fromEntries(found.records),
      });
      const count = found.records.size;
      output.out(
        `Rebuilt ${store.location} from the account: ${count} ${plural(count, 'image')} recorded, nothing imported.\n`,
      );
      for (const { key, imageId, why } of found.unadopted)
        output.out(`  not recorded: image ${imageId} (${key}): ${why}\n`);
      output.out(rebuilt.aside ? `The old state is kept as ${rebuilt.aside}.\n` : 'There was no state before.\n');
      return EXIT.ok;
    } finally {
      await session.close();
    }
  });
}

/**
 * Copies the state to another location (a file, or PostgreSQL), lineage and serial kept, under the
 * locks of both: a state moved between backends is the same state, and plans saved against it
 * still apply. The target must hold no records; the source is left as it was.
 */
export async function stateMigrateCommand(
  options: StateCommandOptions & { to: string },
  env: NodeJS.ProcessEnv,
  output: Output,
) {
  const { store } = resolveSettings(options, env);
  const target = openLocation(options.to, '--to', env);
  if (target.location === store.location) throw new UsageError(`--to names the state itself (${store.location})`);
  const waitMs = parseLockTimeout(options.lockTimeout);
  const lock = await store.lock('imsync state migrate', waitMs);
  return whileLocked(lock, async () => {
    const targetLock = await target.lock('imsync state migrate', waitMs);
    return whileLocked(targetLock, async () => {
      const state = await store.read();
      if (state.serial === 0) throw new UsageError(`${store.location} holds no state; there is nothing to migrate`);
      await target.seed(state);
      const count = Object.keys(state.images).length;
      output.out(
        `Copied ${count} ${plural(count, 'record')} from ${store.location} to ${target.location}: lineage ${state.lineage}, serial ${state.serial}.\n` +
          `${store.location} is left as it was; point --state (or IMSYNC_STATE) at ${target.location} from now on.\n`,
      );
      return EXIT.ok;
    });
  });
}

async function rebuiltRecords(
  ims: Parameters<typeof observeAccount>[0],
  manifests: readonly Manifest[],
  region: string | undefined,
): Promise<{ records: Map<string, ImageRecord>; unadopted: { key: string; imageId: string; why: string }[] }> {
  const empty = emptyState();
  const found = refresh(empty, manifests, await observeAccount(ims, empty), {
    now: new Date(systemClock.now()),
    graceMs: parseSettleGrace(undefined),
    ...(region === undefined ? {} : { region }),
  });
  const records = new Map<string, ImageRecord>();
  for (const [key, record] of found.changes) if (record) records.set(key, record);
  return { records, unadopted: [...found.unadopted] };
}

async function withLock(
  store: StateStore,
  command: string,
  options: StateCommandOptions,
  run: (state: State) => Promise<number>,
): Promise<number> {
  const lock = await store.lock(command, parseLockTimeout(options.lockTimeout));
  return whileLocked(lock, async () => run(await store.read()));
}

function unknownKey(store: StateStore, key: string): UsageError {
  return new UsageError(`${store.location} has no record of ${key}; \`imsync state list\` shows the recorded keys`);
}
