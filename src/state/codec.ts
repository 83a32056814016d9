// The state's wire form: JSON with sorted image keys and 2-space indents, so diffs stay reviewable.
import { validateAgainst } from '../manifest/schema.js';
import { describeSchemaErrors } from '../manifest/schema-errors.js';
import { STATE_VERSION, type State } from './model.js';
import { StateError } from './store.js';

export function encodeState(state: State): string {
  const images = Object.fromEntries(
    Object.keys(state.images)
      .sort()
      .map((key) => [key, state.images[key]]),
  );
  return `${JSON.stringify({ ...state, images }, null, 2)}\n`;
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

export function isSerial(serial: unknown): boolean {
  return Number.isSafeInteger(serial) && (serial as number) >= 0;
}
