// The manifest model: what a user writes. `ImageSpec` is the quick-import request body with the
// API's own field names; schemas/image.schema.json enforces the same shape (test/manifest/schema-drift.test.ts
// fails when the two disagree).

export const API_VERSION = 'imsync/v1';
export const KIND = 'Image';

export const IMAGE_TYPES = ['ECS', 'BMS', 'DataImage'] as const;
export const ARCHITECTURES = ['x86', 'arm'] as const;
export const FIRMWARE_TYPES = ['bios', 'uefi'] as const;
export const LICENSE_TYPES = ['platform', 'byol'] as const;
export const OS_TYPES = ['Linux', 'Windows'] as const;

/** Tags imsync adds to every import to find its images again; users may not set them. */
export const OWNERSHIP_TAG_KEYS = ['imsync-key', 'imsync-attempt'] as const;

export interface ImageTag {
  readonly key: string;
  readonly value: string;
}

interface CommonSpec {
  readonly name: string;
  readonly description?: string;
  readonly image_url: string;
  readonly min_disk: number;
  readonly enterprise_project_id?: string;
  /** Old form, `key.value` strings; mutually exclusive with `image_tags`. */
  readonly tags?: readonly string[];
  readonly image_tags?: readonly ImageTag[];
}

export interface SystemImageSpec extends CommonSpec {
  readonly type?: 'ECS' | 'BMS';
  readonly os_version: string;
  readonly architecture?: (typeof ARCHITECTURES)[number];
  readonly hw_firmware_type?: (typeof FIRMWARE_TYPES)[number];
  readonly license_type?: (typeof LICENSE_TYPES)[number];
}

export interface DataImageSpec extends CommonSpec {
  readonly type: 'DataImage';
  readonly os_type?: (typeof OS_TYPES)[number];
}

export type ImageSpec = SystemImageSpec | DataImageSpec;

/** Every field any spec may carry. */
export type SpecField = keyof SystemImageSpec | keyof DataImageSpec;

export interface ImageManifest {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof KIND;
  readonly metadata: { readonly name: string; readonly region?: string };
  readonly spec: ImageSpec;
}

export interface SourceLocation {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

/** A validated manifest and where it was written. */
export interface Manifest extends ImageManifest {
  readonly source: SourceLocation;
}
