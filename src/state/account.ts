// Which account a state describes. A state records the endpoint and project of every region it
// was used with; using it against another is refused, since every record would look deleted there
// and be imported again (or, worse, an image of the other account taken for one of ours).
import type { Account, RegionAccount, State } from './model.js';
import { StateError } from './store.js';

/** The region key of a connection whose region is not known (an endpoint given alone). */
export const UNKNOWN_REGION = 'default';

/** The state's account with this region's connection added; refused when it names another. */
export function claimAccount(
  state: State,
  region: string | undefined,
  current: RegionAccount,
  location: string,
): Account {
  const name = region ?? UNKNOWN_REGION;
  const recorded = state.account?.regions[name];
  if (recorded && (recorded.endpoint !== current.endpoint || recorded.projectId !== current.projectId)) {
    throw new StateError(
      'STATE_ACCOUNT',
      `${location} describes project ${recorded.projectId} at ${recorded.endpoint} in ${name}, not project ${current.projectId} at ${current.endpoint}; use the state file of that account (--state), or --emulator's own`,
    );
  }
  return { regions: { ...state.account?.regions, [name]: current } };
}

/** Whether `claimAccount` added something that must be written. */
export function accountChanged(state: State, account: Account): boolean {
  return JSON.stringify(state.account ?? null) !== JSON.stringify(account);
}
