// imsync's two ownership tags: every import carries them, so that its image can always be found
// again (DESIGN.md §5) and so that imsync only ever changes images it made.
import { specTags } from '../manifest/spec.js';
import type { ImageSpec, ImageTag } from '../manifest/types.js';
import type { QuickImportBody } from './types.js';

export const KEY_TAG = 'imsync-key';
export const ATTEMPT_TAG = 'imsync-attempt';

export function isOwnershipTag(tag: ImageTag): boolean {
  return tag.key === KEY_TAG || tag.key === ATTEMPT_TAG;
}

/** The request body of an import attempt: the spec, its tags as `image_tags`, and the ownership tags. */
export function importBody(spec: ImageSpec, key: string, attemptId: string): QuickImportBody {
  const { tags, image_tags, ...fields } = spec;
  return { ...fields, image_tags: [...specTags(spec), ...ownershipTags(key, attemptId)] };
}

export function ownershipTags(key: string, attemptId: string): ImageTag[] {
  return [
    { key: KEY_TAG, value: key },
    { key: ATTEMPT_TAG, value: attemptId },
  ];
}

/** `imsync-attempt=<id>`, the list filter that finds an attempt's image. */
export function attemptFilter(attemptId: string): string {
  return `${ATTEMPT_TAG}=${attemptId}`;
}
