// `imsync force-unlock LOCK_ID`: removes a state lock whose holder is gone, by the id its LOCK_HELD message gave.
import { describeHolder } from '../state/store.js';
import { EXIT } from './commands.js';
import { resolveSettings, type GlobalOptions } from './config.js';
import type { Output } from './output.js';

export async function forceUnlockCommand(
  lockId: string,
  options: GlobalOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<number> {
  const { store } = resolveSettings(options, env);
  const holder = await store.forceUnlock(lockId);
  output.out(`Unlocked ${store.location}: the lock ${holder.id} of ${describeHolder(holder)} was removed.\n`);
  return EXIT.ok;
}
