// The state's wire form: JSON with sorted image keys (and pre-flight cache keys) and 2-space
// indents, so diffs stay reviewable.
import { validateAgainst } from '../manifest/schema.js';
import { describeSchemaErrors } from '../manifest/schema-errors.js';
import { STATE_VERSION, type State } from './model.js';
import { StateError } from './store.js';

/** The cache goes last whatever the order it was set in: every backend gives back the same file. */
export function encodeState(state: State): string {
  const { preflight, ...rest } = state;
  const document = {
    ...rest,
    images: sortedByKey(state.images),
    ...(preflight === undefined
      ? {}
      : { preflight: { objects: sortedByKey(preflight.objects), buckets: sortedByKey(preflight.buckets) } }),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

function sortedByKey<T>(map: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(map)
      .sort()
      .map((key) => [key, map[key]!]),
  );
}

/** Decodes a state document, refusing anything it cannot vouch for. `location` names it in errors. */
export function decodeState(text: string, location: string): State {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StateError('STATE_CORRUPT', `${location} is not valid JSON (${(error as Error).message})`);
  }
  const version = (value as { version?: unknown } | null)?.version;
  if (version !== STATE_VERSION) {
    throw new StateError(
      'STATE_VERSION',
      `${location} has state version ${JSON.stringify(version) ?? 'none'}; this imsync reads version ${STATE_VERSION}`,
    );
  }
  return checkState(value as State, location);
}

/**
 * The state itself when it is valid by schemas/state.schema.json (STATE_INVALID otherwise) and its
 * serial counts exactly (STATE_CORRUPT otherwise).
 */
export function checkState(state: State, location: string): State {
  const [problem] = describeSchemaErrors(validateAgainst('state', state));
  if (problem) throw new StateError('STATE_INVALID', `${location} is not a valid state: ${problem.message}`);
  if (!isSerial(state.serial)) {
    throw new StateError('STATE_CORRUPT', `${location} has serial ${state.serial}, ${SERIAL_RANGE}`);
  }
  return state;
}

/** Beyond 2^53 - 1, JSON numbers skip integers: a serial there would let journal lines pass unseen. */
export const SERIAL_RANGE = 'outside 0 to 2^53 - 1, where JSON numbers count one by one';

/**
 * Refuses to write on top of `base` when the stored state (`current`) has moved on since it was
 * read (STATE_CONFLICT), or when it is at the last serial a JSON number counts (STATE_CORRUPT).
 */
export function checkBase(location: string, current: { lineage: string; serial: number }, base: State): void {
  if (current.serial !== base.serial || (current.lineage !== '' && current.lineage !== base.lineage)) {
    throw new StateError(
      'STATE_CONFLICT',
      `${location} has moved on (serial ${current.serial}) since it was read (serial ${base.serial}); nothing was written`,
    );
  }
  if (!isSerial(current.serial + 1)) {
    throw new StateError(
      'STATE_CORRUPT',
      `${location} is at serial ${current.serial}, the last one a JSON number counts exactly; nothing was written`,
    );
  }
}

/** Refuses to seed a location that holds records already (STATE_CONFLICT): a state is moved only where none is. */
export function checkSeedable(location: string, current: { lineage: string; serial: number; records: number }): void {
  if (current.records === 0) return;
  throw new StateError(
    'STATE_CONFLICT',
    `${location} already holds a state (${current.records} ${current.records === 1 ? 'record' : 'records'}, lineage ${current.lineage}, serial ${current.serial}); nothing was written`,
  );
}

export function isSerial(serial: unknown): boolean {
  return Number.isSafeInteger(serial) && (serial as number) >= 0;
}
