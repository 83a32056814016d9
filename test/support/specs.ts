import type { DataImageSpec, Manifest, SystemImageSpec } from '../../src/manifest/types.js';

export function systemSpec(name: string, overrides: Partial<SystemImageSpec> = {}): SystemImageSpec {
  return {
    name,
    image_url: `golden-images:${name}.zvhd2`,
    os_version: 'Ubuntu 22.04 server 64bit',
    min_disk: 40,
    ...overrides,
  };
}

export function dataSpec(name: string, overrides: Partial<DataImageSpec> = {}): DataImageSpec {
  return { name, type: 'DataImage', image_url: `golden-images:${name}.raw`, min_disk: 100, ...overrides };
}

export function manifest(key: string, spec: Manifest['spec'] = systemSpec(key), region?: string): Manifest {
  return {
    apiVersion: 'imsync/v1',
    kind: 'Image',
    metadata: region === undefined ? { name: key } : { name: key, region },
    spec,
    source: { file: 'manifests/test.yaml', line: 1, column: 1 },
  };
}

/** The fields of a manifest's spec that these tests vary; the rest are fixed valid values. */
export interface SpecFields {
  name?: string;
  image_url?: string;
  description?: string;
  image_tags?: { key: string; value: string }[];
  min_disk?: number;
  hw_firmware_type?: 'bios' | 'uefi';
}

/** A valid system-image spec for `key` (its file in bucket `golden`), with `fields` over it. */
export function specFor(key: string, fields: SpecFields = {}): Record<string, unknown> {
  return {
    name: `image-${key}`,
    image_url: `golden:${key}.zvhd2`,
    os_version: 'Ubuntu 22.04 server 64bit',
    min_disk: 40,
    ...fields,
  };
}

/** A manifest file's YAML for a system image of `key` whose file is `imageUrl` (bucket:key). */
export function manifestYaml(key: string, imageUrl: string): string {
  return [
    'apiVersion: imsync/v1',
    'kind: Image',
    'metadata:',
    `  name: ${key}`,
    'spec:',
    `  name: ${key}`,
    `  image_url: ${imageUrl}`,
    '  os_version: Ubuntu 22.04 server 64bit',
    '  min_disk: 40',
    '',
  ].join('\n');
}
