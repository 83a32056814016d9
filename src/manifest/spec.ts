// What a spec means, as opposed to how it is written: defaults applied and both tag forms made
// one, so that the planner compares meaning and the hash changes only when the meaning does.
import { createHash } from 'node:crypto';
import type { ImageSpec, ImageTag, SpecField } from './types.js';

/** A spec with the API's defaults applied and its tags as sorted `key=value` strings. */
export type EffectiveSpec = Readonly<Record<string, string | number | readonly string[]>>;

/** What a change to each field needs: PATCH in place, or a new import. */
export const FIELD_CHANGE: Readonly<Record<SpecField, 'update' | 'replace'>> = {
  name: 'update',
  description: 'update',
  tags: 'update',
  image_tags: 'update',
  image_url: 'replace',
  os_version: 'replace',
  min_disk: 'replace',
  type: 'replace',
  architecture: 'replace',
  os_type: 'replace',
  // IMS changes the boot firmware in place (PATCH replace), as the Terraform provider does.
  hw_firmware_type: 'update',
  license_type: 'replace',
  enterprise_project_id: 'replace',
};

export function effectiveSpec(spec: ImageSpec): EffectiveSpec {
  const { tags, image_tags, ...fields } = spec;
  const effective: Record<string, string | number | readonly string[]> = { ...fields };
  effective.description ??= '';
  effective.enterprise_project_id ??= '0';
  if (spec.type === 'DataImage') {
    effective.os_type ??= 'Linux';
  } else {
    effective.type ??= 'ECS';
    effective.architecture ??= 'x86';
    // The API forces UEFI on arm, so writing it or not means the same.
    if (effective.architecture === 'arm') effective.hw_firmware_type ??= 'uefi';
  }
  effective.tags = tagList(specTags(spec));
  return effective;
}

/** The spec's tags as {key, value}, whichever form it uses; `a.b.c` in the old form is key `a`, value `b.c`. */
export function specTags(spec: ImageSpec): ImageTag[] {
  if (spec.image_tags) return [...spec.image_tags];
  return (spec.tags ?? []).map((tag) => {
    const dot = tag.indexOf('.');
    return dot < 0 ? { key: tag, value: '' } : { key: tag.slice(0, dot), value: tag.slice(dot + 1) };
  });
}

/** Tags as sorted `key=value` strings: one form for comparing. */
export function tagList(tags: readonly ImageTag[]): string[] {
  return tags.map(({ key, value }) => `${key}=${value}`).sort();
}

/** Specs are never changed once made: each one's hash is computed once (a daemon plans 10,000 of them at every edit). */
const hashes = new WeakMap<ImageSpec, string>();

/** sha256 of the effective spec in canonical JSON (sorted keys). */
export function specHash(spec: ImageSpec): string {
  let hash = hashes.get(spec);
  if (hash === undefined) {
    const effective = effectiveSpec(spec);
    const canonical = JSON.stringify(effective, Object.keys(effective).sort());
    hash = createHash('sha256').update(canonical).digest('hex');
    hashes.set(spec, hash);
  }
  return hash;
}
