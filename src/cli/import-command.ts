// `imsync import KEY IMAGE_ID`: adopts an existing image under a manifest key, as `terraform
// import` does. The image must be a private image of this project, active, and not imsync's under
// another key; what its manifest says differently is shown; the ownership tags are added; the
// record is written. Nothing is imported.
import { ATTEMPT_TAG, KEY_TAG } from '../ims/ownership.js';
import { effectiveSpec, FIELD_CHANGE } from '../manifest/spec.js';
import type { SpecField } from '../manifest/types.js';
import { observed } from '../refresh/observe.js';
import { adopt } from '../refresh/refresh.js';
import { accountChanged } from '../state/account.js';
import { withChanges } from '../state/model.js';
import { whileLocked } from '../state/store.js';
import { EXIT, loadOrReport } from './commands.js';
import { resolveSettings, UsageError, type ConnectionOptions, type GlobalOptions } from './config.js';
import { resolveTarget } from './connect.js';
import { parseLockTimeout } from './flags.js';
import type { Output } from './output.js';
import { openSession } from './session.js';

export interface ImportCommandOptions extends GlobalOptions, ConnectionOptions {
  lockTimeout?: string;
}

/** Image attributes as the list shows them, by the spec field they answer to. */
const OBSERVED_FIELDS: readonly (readonly [SpecField, string])[] = [
  ['min_disk', 'min_disk'],
  ['os_version', '__os_version'],
  ['architecture', 'architecture'],
];

export async function importCommand(
  key: string,
  imageId: string,
  paths: string[],
  options: ImportCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<number> {
  const settings = resolveSettings(options, env);
  const startTarget = resolveTarget(options, env, settings.region);
  const lockWaitMs = parseLockTimeout(options.lockTimeout);
  const manifests = await loadOrReport(paths, 'text', output);
  if (!manifests) return EXIT.error;
  const manifest = manifests.find((m) => m.metadata.name === key);
  if (!manifest) {
    throw new UsageError(
      `no manifest in ${paths.join(', ')} has the key ${key}; import adopts an image under a manifest's key`,
    );
  }
  const { store } = settings;
  const lock = await store.lock('imsync import', lockWaitMs);
  return whileLocked(lock, async () => {
    const state = await store.read();
    const recorded = state.images[key];
    if (recorded) {
      throw new UsageError(
        `${key} is already recorded${recorded.imageId ? ` with image ${recorded.imageId}` : ''}; \`imsync state rm ${key}\` first`,
      );
    }
    const owner = Object.entries(state.images).find(([, record]) => record.imageId === imageId);
    if (owner) throw new UsageError(`image ${imageId} is already recorded under ${owner[0]}`);
    const session = await openSession(startTarget, settings.region, state, store.location);
    try {
      const { client } = session;
      const image = await client.getImage(imageId);
      if (!image || image.__imagetype !== 'private') {
        throw new UsageError(
          `image ${imageId} is not a private image of project ${session.target.connection.projectId}`,
        );
      }
      if (image.status !== 'active')
        throw new UsageError(`image ${imageId} is ${image.status}, not active; only an active image can be imported`);
      const tags = await client.listImageTags(imageId);
      const claimed = tags.find((tag) => tag.key === KEY_TAG);
      if (claimed && claimed.value !== key) {
        throw new UsageError(
          `image ${imageId} carries ${KEY_TAG}=${claimed.value}: it is imsync's image of another key`,
        );
      }
      const region = manifest.metadata.region ?? session.region;
      const record = adopt(key, { ...observed(image), tags }, manifest.spec, region, new Date());
      // Immutable fields the image does not share with its manifest: the next plan replaces it.
      const desired = effectiveSpec(manifest.spec);
      const differences = OBSERVED_FIELDS.filter(
        ([field, attribute]) =>
          image[attribute] !== undefined && desired[field] !== undefined && image[attribute] !== desired[field],
      );
      const ownership = [
        ...(claimed ? [] : [{ key: KEY_TAG, value: key }]),
        ...(tags.some((tag) => tag.key === ATTEMPT_TAG) ? [] : [{ key: ATTEMPT_TAG, value: record.attemptId }]),
      ];
      if (ownership.length > 0) await client.changeImageTags(imageId, 'create', ownership);
      const base = accountChanged(state, session.account) ? { ...state, account: session.account } : state;
      await store.write(withChanges(base, new Map([[key, record]])));
      output.out(`Imported image ${imageId} (${image.name}) as ${key}: recorded, and tagged ${KEY_TAG}=${key}.\n`);
      for (const [field, attribute] of differences) {
        const forces = FIELD_CHANGE[field] === 'replace' ? ' (forces replacement)' : '';
        output.out(
          `  ${field}: the image has ${JSON.stringify(image[attribute])}, the manifest ${JSON.stringify(desired[field])}${forces}\n`,
        );
      }
      output.out('Run `imsync plan` to see what apply would change.\n');
      return EXIT.ok;
    } finally {
      await session.close();
    }
  });
}
