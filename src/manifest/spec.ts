// What a spec means, as opposed to how it is written: defaults applied and both tag forms made
// one, so that the planner compares meaning and the hash changes only when the meaning does.
import { createHash } from 'node:crypto';
import type { ImageSpec, SpecField } from './types.js';

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
  hw_firmware_type: 'replace',
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
  effective.tags = tagList(tags, image_tags);
  return effective;
}

/** Both tag forms as sorted `key=value` strings; `a.b.c` in the old form is key `a`, value `b.c`. */
function tagList(tags: ImageSpec['tags'], imageTags: ImageSpec['image_tags']): string[] {
  const pairs =
    tags?.map((tag) => {
      const dot = tag.indexOf('.');
      return dot < 0 ? `${tag}=` : `${tag.slice(0, dot)}=${tag.slice(dot + 1)}`;
    }) ??
    imageTags?.map(({ key, value }) => `${key}=${value}`) ??
    [];
  return pairs.sort();
}

/** sha256 of the effective spec in canonical JSON (sorted keys). */
export function specHash(spec: ImageSpec): string {
  const effective = effectiveSpec(spec);
  const canonical = JSON.stringify(effective, Object.keys(effective).sort());
  return createHash('sha256').update(canonical).digest('hex');
}
