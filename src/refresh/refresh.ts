// Refresh, the pure half: what the cloud was seen to hold, turned into changes to the recorded
// state and the drift that explains them. Deleted outside imsync: the record goes, so the plan
// imports again. Name, description, tags or firmware edited: the record takes what was seen, so
// the plan updates them back. An image carrying imsync's tag for a key with no record: adopted.
// Nothing is concluded from what the API may simply not show (research/ims-fidelity.md §2): an
// image is deleted only once looked up by id and not found, and only after the listing grace; and
// the cloud is one region's, so records of other regions are left as they are.
import { effectiveSpec, specHash, specTags, tagList } from '../manifest/spec.js';
import { ATTEMPT_TAG, isOwnershipTag, KEY_TAG } from '../ims/ownership.js';
import { validateAgainst } from '../manifest/schema.js';
import { API_VERSION, KIND, type ImageSpec, type ImageTag, type Manifest } from '../manifest/types.js';
import { adoptedRecord, foundRecord, intentRecord, type ImageRecord, type State } from '../state/model.js';

/** An image as refresh saw it: attributes from the image list, tags from the tag API. */
export interface ObservedImage {
  readonly id: string;
  readonly name: string;
  /** queued, saving, active, killed, deleted. */
  readonly status: string;
  readonly description?: string;
  readonly firmware?: string;
  readonly minDisk?: number;
  /** `__os_version`: the operating system of a system image. */
  readonly osVersion?: string;
  /** All its tags, ownership tags included, when the tag API returned them. */
  readonly tags?: readonly ImageTag[];
}

export interface Observations {
  /** Every image seen, by id: listed, or found by the tag API. */
  readonly images: ReadonlyMap<string, ObservedImage>;
  /** Ids the tag API returned for imsync's key tag: its tags for these are known. */
  readonly tagged: ReadonlySet<string>;
  /** Recorded images looked up by id and not found. */
  readonly absent: ReadonlySet<string>;
}

export type Drift =
  | { readonly kind: 'deleted'; readonly imageId: string }
  | { readonly kind: 'edited'; readonly imageId: string; readonly fields: readonly string[] }
  | { readonly kind: 'adopted'; readonly imageId: string };

export interface Refreshed {
  /** Records to change before planning (and to record, when applied). */
  readonly changes: ReadonlyMap<string, ImageRecord | null>;
  readonly drift: ReadonlyMap<string, Drift>;
  /** Images carrying imsync's key tag that were not adopted: no manifest, or another image already has the key. */
  readonly unadopted: readonly { readonly key: string; readonly imageId: string; readonly why: string }[];
}

export interface RefreshOptions {
  readonly now: Date;
  /** How long after its last change a recorded image may stay unlisted before it counts as deleted. */
  readonly graceMs: number;
  /**
   * The connection's region: the only one the observations describe (records of others are left
   * alone, images of manifests for others are not adopted), and the region of manifests that name none.
   */
  readonly region?: string;
}

/** Whether a record or manifest in `region` is observed by a connection to `connected` (unknown: every one). */
export function observedHere(region: string | undefined, connected: string | undefined): boolean {
  return region === undefined || connected === undefined || region === connected;
}

export function refresh(
  state: State,
  manifests: readonly Manifest[],
  observations: Observations,
  options: RefreshOptions,
): Refreshed {
  const changes = new Map<string, ImageRecord | null>();
  const drift = new Map<string, Drift>();
  const recordedIds = new Set<string>();
  for (const record of Object.values(state.images)) {
    if (record.imageId !== undefined) recordedIds.add(record.imageId);
    if (record.supersedes !== undefined) recordedIds.add(record.supersedes);
  }

  for (const [key, record] of Object.entries(state.images)) {
    if (record.phase !== 'succeeded') continue; // imports in flight are the executor's to follow
    if (!observedHere(record.region, options.region)) continue;
    const image = observations.images.get(record.imageId);
    if (image === undefined || image.status === 'deleted') {
      const confirmed = image !== undefined || observations.absent.has(record.imageId);
      const settled = options.now.getTime() - Date.parse(record.updatedAt) >= options.graceMs;
      if (confirmed && settled) {
        changes.set(key, null);
        drift.set(key, { kind: 'deleted', imageId: record.imageId });
      }
      continue;
    }
    const seen = observedChanges(key, record.spec, image, observations.tagged.has(image.id));
    if (seen.fields.length === 0) continue;
    drift.set(key, { kind: 'edited', imageId: record.imageId, fields: seen.fields });
    // The record takes what it can hold; an ownership tag or a value no manifest may hold it cannot.
    if (seen.spec !== record.spec) {
      const spec = seen.spec;
      changes.set(key, { ...record, spec, specHash: specHash(spec), updatedAt: options.now.toISOString() });
    }
  }

  const unadopted: { key: string; imageId: string; why: string }[] = [];
  const desired = new Map(manifests.map((manifest) => [manifest.metadata.name, manifest]));
  const candidates = [...observations.images.values()]
    .filter((image) => observations.tagged.has(image.id) && !recordedIds.has(image.id))
    .filter((image) => image.status !== 'killed' && image.status !== 'deleted')
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const image of candidates) {
    const key = tagValue(image, KEY_TAG)!;
    const manifest = desired.get(key);
    if (manifest === undefined) {
      unadopted.push({ key, imageId: image.id, why: 'no manifest has this key' });
    } else if (state.images[key] !== undefined || changes.has(key)) {
      unadopted.push({
        key,
        imageId: image.id,
        why: `the key already has a record (${state.images[key]?.imageId ?? 'no image'})`,
      });
    } else if (!observedHere(manifest.metadata.region, options.region)) {
      unadopted.push({ key, imageId: image.id, why: `its manifest is for region ${manifest.metadata.region!}` });
    } else {
      const region = manifest.metadata.region ?? options.region;
      changes.set(key, adopt(key, image, manifest.spec, region, options.now));
      drift.set(key, { kind: 'adopted', imageId: image.id });
    }
  }
  return { changes, drift, unadopted };
}

/** A record for an image found under its key: active ones as imported, running ones to follow. */
export function adopt(
  key: string,
  image: ObservedImage,
  desired: ImageSpec,
  region: string | undefined,
  at: Date,
): ImageRecord {
  const spec = withObservedDisk(observedChanges(key, desired, image, true).spec, image);
  // An image imsync did not make has no attempt: one is named after it (a tag value holds 43 characters).
  const attemptId = tagValue(image, ATTEMPT_TAG) ?? `adopted-${image.id.replaceAll('-', '').slice(0, 35)}`;
  if (image.status === 'active') {
    return adoptedRecord({ imageId: image.id, attemptId, spec, at, ...(region === undefined ? {} : { region }) });
  }
  const intent = intentRecord(undefined, { spec, attemptId, ...(region === undefined ? {} : { region }) }, at);
  return foundRecord(intent, image.id, at);
}

/**
 * An adopted image's disk as it is, not as its manifest wishes: what differs then plans as a
 * replacement. (A recorded image's disk never changes, so only adoption looks.)
 */
function withObservedDisk(spec: ImageSpec, image: ObservedImage): ImageSpec {
  const seen = {
    ...(image.minDisk === undefined ? {} : { min_disk: image.minDisk }),
    ...(image.osVersion === undefined || spec.type === 'DataImage' ? {} : { os_version: image.osVersion }),
  };
  const candidate = { ...spec, ...seen } as ImageSpec;
  return validSpec(candidate) ? candidate : spec;
}

/** The spec with what was seen of key's image in place of what it says, and the fields that differed. */
function observedChanges(
  key: string,
  spec: ImageSpec,
  image: ObservedImage,
  tagsKnown: boolean,
): { spec: ImageSpec; fields: string[] } {
  const fields: string[] = [];
  let next: ImageSpec = spec;
  const set = (field: string, patch: Partial<ImageSpec>, drop: readonly string[] = []) => {
    const candidate = Object.fromEntries(
      Object.entries({ ...next, ...patch }).filter(([name]) => !drop.includes(name)),
    ) as unknown as ImageSpec;
    fields.push(field);
    // A value IMS accepts but a manifest may not hold is not written into the state; the drift
    // still names the field, so that the plan sets it back.
    if (validSpec(candidate)) next = candidate;
  };
  const effective = effectiveSpec(spec);
  if (image.name !== spec.name) set('name', { name: image.name });
  if ((image.description ?? '') !== effective.description) set('description', { description: image.description ?? '' });
  if (
    image.firmware !== undefined &&
    effective.hw_firmware_type !== undefined &&
    image.firmware !== effective.hw_firmware_type
  ) {
    set('hw_firmware_type', { hw_firmware_type: image.firmware as 'bios' | 'uefi' });
  }
  if (tagsKnown && image.tags !== undefined) {
    const user = image.tags.filter((tag) => !isOwnershipTag(tag));
    if (tagList(user).join('\n') !== tagList(specTags(spec)).join('\n')) set('tags', { image_tags: user }, ['tags']);
    // Removed outside imsync, or naming another key (after `state mv`): the tag update sets it.
    if (!image.tags.some((tag) => tag.key === KEY_TAG && tag.value === key)) fields.push('ownership');
  } else {
    // Listed, but the tag API does not show imsync's key tag on it: removed outside imsync.
    fields.push('ownership');
  }
  return { spec: next, fields };
}

function validSpec(spec: ImageSpec): boolean {
  const document = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'refresh' }, spec };
  return validateAgainst('image', document).length === 0;
}

function tagValue(image: ObservedImage, key: string): string | undefined {
  return image.tags?.find((tag) => tag.key === key)?.value;
}
