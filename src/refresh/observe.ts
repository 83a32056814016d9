// Refresh, the I/O half: one look at the account for the whole state. Attributes come from the
// list of private images, tags from the tag API (how lists show tags is not documented), and a
// recorded image missing from both is looked up by id before anyone calls it deleted (records of
// other regions are not: their images are not this region's to see). Cost:
// ⌈images / 1000⌉ + 1 list pages, ⌈imsync images / 1000⌉ tag pages, and two lookups per recorded
// image the tag API did not return.
import { KEY_TAG } from '../ims/ownership.js';
import type { ImsClient } from '../ims/client.js';
import type { Image } from '../ims/types.js';
import type { State } from '../state/model.js';
import { observedHere, type Observations, type ObservedImage } from './refresh.js';

export type RefreshApi = Pick<ImsClient, 'listAllImages' | 'listTaggedImages' | 'getImage' | 'listImageTags'>;

/** The largest page asked for; a server that serves fewer is paged through all the same. */
const PAGE = 1000;

export interface ObserveOptions {
  /** The connection's region: the account is looked at there only. */
  readonly region?: string;
  readonly signal?: AbortSignal | undefined;
}

export async function observeAccount(
  ims: RefreshApi,
  state: State,
  { region, signal }: ObserveOptions = {},
): Promise<Observations> {
  const images = new Map<string, ObservedImage>();
  const tagged = new Set<string>();
  const [, owned] = await Promise.all([
    (async () => {
      const query = { __imagetype: 'private', limit: PAGE } as const;
      for await (const image of ims.listAllImages(query, signal)) images.set(image.id, observed(image));
    })(),
    (async () => {
      const found = [];
      for await (const image of ims.listTaggedImages(KEY_TAG, signal)) found.push(image);
      return found;
    })(),
  ]);
  for (const image of owned) {
    tagged.add(image.id);
    const listed = images.get(image.id);
    images.set(image.id, {
      ...(listed ?? { id: image.id, name: image.name, status: image.status ?? 'active' }),
      tags: image.tags,
    });
  }
  // Recorded images the tag API did not return: looked up one by one (deletions and removed
  // ownership tags are rare), so that neither is concluded from what a list does not show.
  const absent = new Set<string>();
  const untagged = Object.values(state.images).flatMap((record) =>
    record.phase === 'succeeded' && !tagged.has(record.imageId) && observedHere(record.region, region)
      ? [record.imageId]
      : [],
  );
  await Promise.all(
    untagged.map(async (id) => {
      let image = images.get(id);
      if (image === undefined) {
        const found = await ims.getImage(id, signal);
        if (found === undefined) return absent.add(id);
        image = observed(found);
      }
      if (image.status === 'deleted' || image.status === 'killed') return images.set(id, image);
      images.set(id, { ...image, tags: await ims.listImageTags(id, signal) });
      tagged.add(id);
    }),
  );
  return { images, tagged, absent };
}

/** What refresh reads of a listed image. */
export function observed(image: Image): ObservedImage {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const description = text(image.__description);
  const firmware = text(image.hw_firmware_type);
  const osVersion = text(image.__os_version);
  return {
    id: image.id,
    name: image.name,
    status: image.status,
    ...(description === undefined ? {} : { description }),
    ...(firmware === undefined ? {} : { firmware }),
    ...(typeof image.min_disk === 'number' ? { minDisk: image.min_disk } : {}),
    ...(osVersion === undefined ? {} : { osVersion }),
  };
}
