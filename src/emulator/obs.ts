// The simulated OBS that quick-import jobs read their image files from, and the checks IMS makes
// on a file when the job runs (research/ims-api.md §2.1, §17.10).
import type { ImgCode } from './errors.js';

export const STORAGE_CLASSES = ['STANDARD', 'WARM', 'COLD', 'DEEP_ARCHIVE'] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** One object in a bucket; storageClass defaults to STANDARD and region to the emulator's. */
export interface ObsObject {
  readonly bucket: string;
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  readonly storageClass?: StorageClass;
  readonly region?: string;
}

/** Why a job that reads the file fails, or the file's size when it can be imported. */
export type FileCheck =
  | { readonly ok: true; readonly size: number }
  | { readonly ok: false; readonly code: ImgCode; readonly reason: string };

const TERABYTE = 1024 ** 4;
const DEFAULT_SIZE = 8 * 1024 ** 3;
const IMPORTABLE = /\.(raw|zvhd2)$/i;
const ENTRY_FIELDS = new Set(['bucket', 'key', 'size', 'storageClass', 'region']);

export class Obs {
  private readonly objects: Map<string, ObsObject> | undefined;
  private readonly bucketRegions = new Map<string, string>();

  /**
   * `objects` undefined is the default world: every `*.zvhd2` and `*.raw` object exists in every
   * bucket (Standard, 8 GiB, this region), each `.raw` with its `.mf` bitmap, and nothing else does.
   */
  constructor(
    objects: readonly ObsObject[] | undefined,
    private readonly region: string,
  ) {
    if (objects === undefined) return;
    this.objects = new Map(objects.map((object) => [objectId(object.bucket, object.key), object]));
    for (const object of objects) this.bucketRegions.set(object.bucket, object.region ?? region);
  }

  /**
   * The checks in the order IMS would meet the problems: the format (from the name; IMG.0072 is our
   * choice, the docs name no code for it), the bucket's region, the object, its storage class, the
   * bitmap of a RAW file, the size. The docs give no code for a storage class other than Standard or
   * for a missing bitmap; both are IMG.0057 (the file cannot be read), with a reason naming which.
   */
  check(bucket: string, key: string): FileCheck {
    if (!IMPORTABLE.test(key)) {
      return fail(
        'IMG.0072',
        `${bucket}:${key} is not a RAW or ZVHD2 file (only .raw and .zvhd2 can be imported quickly)`,
      );
    }
    const bucketRegion = this.objects === undefined ? this.region : this.bucketRegions.get(bucket);
    if (bucketRegion !== undefined && bucketRegion !== this.region) {
      return fail('IMG.0058', `bucket ${bucket} is in region ${bucketRegion}, the image is created in ${this.region}`);
    }
    const object = this.find(bucket, key);
    if (object === undefined) return fail('IMG.0057', `object ${key} not found in bucket ${bucket}`);
    const storageClass = object.storageClass ?? 'STANDARD';
    if (storageClass !== 'STANDARD') {
      return fail(
        'IMG.0057',
        `object ${key} in bucket ${bucket} is in storage class ${storageClass}; it must be STANDARD`,
      );
    }
    if (/\.raw$/i.test(key)) {
      const bitmap = `${key.slice(0, -'.raw'.length)}.mf`;
      if (this.find(bucket, bitmap) === undefined) {
        return fail('IMG.0057', `the RAW file ${key} has no bitmap file ${bitmap} in bucket ${bucket}`);
      }
    }
    if (object.size > TERABYTE) {
      return fail(
        'IMG.0059',
        `object ${key} in bucket ${bucket} is ${object.size} bytes; at most 1 TB can be imported`,
      );
    }
    if (object.size === 0) return fail('IMG.0057', `object ${key} in bucket ${bucket} is empty`);
    return { ok: true, size: object.size };
  }

  private find(bucket: string, key: string): ObsObject | undefined {
    if (this.objects !== undefined) return this.objects.get(objectId(bucket, key));
    return /\.(raw|zvhd2|mf)$/i.test(key) ? { bucket, key, size: DEFAULT_SIZE } : undefined;
  }
}

function objectId(bucket: string, key: string): string {
  return `${bucket}\n${key}`;
}

function fail(code: ImgCode, reason: string): FileCheck {
  return { ok: false, code, reason };
}

/** An --objects file: a JSON array of ObsObject. Throws naming the file and the bad entry. */
export function parseObjectsFile(text: string, source: string): ObsObject[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(parsed)) {
    throw new Error(`${source}: expected a JSON array of {bucket, key, size, storageClass, region} objects`);
  }
  const objects = parsed.map((entry: unknown, index) => parseEntry(entry, `${source}: entry ${index}`));
  // A region belongs to a bucket; entries only repeat it.
  const regions = new Map<string, string | undefined>();
  objects.forEach((object, index) => {
    if (regions.has(object.bucket) && regions.get(object.bucket) !== object.region) {
      throw new Error(
        `${source}: entry ${index} (${object.bucket}:${object.key}): bucket ${object.bucket} is given two regions`,
      );
    }
    regions.set(object.bucket, object.region);
  });
  return objects;
}

function parseEntry(entry: unknown, where: string): ObsObject {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new Error(`${where}: expected an object {bucket, key, size, storageClass, region}`);
  }
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find((name) => !ENTRY_FIELDS.has(name));
  if (unknown !== undefined) {
    throw new Error(
      `${where}: unknown field ${JSON.stringify(unknown)} (expected bucket, key, size, storageClass, region)`,
    );
  }
  const { bucket, key, size, storageClass, region } = fields;
  if (typeof bucket !== 'string' || bucket === '') throw new Error(`${where}: bucket must be a non-empty string`);
  if (typeof key !== 'string' || key === '') throw new Error(`${where} (${bucket}): key must be a non-empty string`);
  const at = `${where} (${bucket}:${key})`;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new Error(`${at}: size must be a whole number of bytes`);
  }
  if (storageClass !== undefined && !STORAGE_CLASSES.includes(storageClass as StorageClass)) {
    throw new Error(`${at}: storageClass must be one of ${STORAGE_CLASSES.join(', ')}`);
  }
  if (region !== undefined && (typeof region !== 'string' || region === '')) {
    throw new Error(`${at}: region must be a non-empty string`);
  }
  return {
    bucket,
    key,
    size,
    ...(storageClass === undefined ? {} : { storageClass: storageClass as StorageClass }),
    ...(region === undefined ? {} : { region }),
  };
}
