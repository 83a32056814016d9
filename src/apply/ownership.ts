// imsync's two ownership tags: every import carries them, so that its image can always be found
// again (DESIGN.md §5) and so that imsync only ever changes images it made.
import type { ImageSpec, ImageTag } from '../manifest/types.js';
import type { Image, QuickImportBody } from '../ims/types.js';

export const KEY_TAG = 'imsync-key';
export const ATTEMPT_TAG = 'imsync-attempt';

/** The user's tags of a spec as {key, value}, whichever form the manifest used. */
export function userTags(spec: ImageSpec): ImageTag[] {
  if (spec.image_tags) return [...spec.image_tags];
  return (spec.tags ?? []).map((tag) => {
    const dot = tag.indexOf('.');
    return dot < 0 ? { key: tag, value: '' } : { key: tag.slice(0, dot), value: tag.slice(dot + 1) };
  });
}

/** The request body of an import attempt: the spec, its tags as `image_tags`, and the ownership tags. */
export function importBody(spec: ImageSpec, key: string, attemptId: string): QuickImportBody {
  const { tags, image_tags, ...fields } = spec;
  return {
    ...fields,
    image_tags: [...userTags(spec), { key: KEY_TAG, value: key }, { key: ATTEMPT_TAG, value: attemptId }],
  };
}

/** `imsync-attempt=<id>`, the list filter that finds an attempt's image. */
export function attemptFilter(attemptId: string): string {
  return `${ATTEMPT_TAG}=${attemptId}`;
}

export function attemptOf(image: Image): string | undefined {
  const prefix = `${ATTEMPT_TAG}=`;
  return image.tags.find((tag) => tag.startsWith(prefix))?.slice(prefix.length);
}

/** Whether the image carries imsync's ownership tag for this key. */
export function ownedBy(image: Image, key: string): boolean {
  return image.tags.includes(`${KEY_TAG}=${key}`);
}
