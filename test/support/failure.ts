import { StateError } from '../../src/state/store.js';

/** The StateError a promise rejects with; fails the test when it resolves or rejects otherwise. */
export async function stateFailure(promise: Promise<unknown>): Promise<StateError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StateError) return error;
    throw error;
  }
  throw new Error('expected a StateError, but the call succeeded');
}
