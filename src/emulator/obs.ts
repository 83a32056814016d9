// The simulated OBS: the buckets and objects that quick-import jobs read their image files from,
// the checks IMS makes on a file when the job runs (research/ims-api.md §2.1, §17.10), and what the
// OBS routes (obs-routes.ts) answer HEAD Object, HEAD Bucket and GET ?location from.
import { createHash } from 'node:crypto';
import type { ImgCode } from './errors.js';

export const STORAGE_CLASSES = ['STANDARD', 'WARM', 'COLD', 'DEEP_ARCHIVE'] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** Server-side encryption: SSE-KMS, SSE-OBS, or SSE-C (a key the customer sends with each request). */
export const ENCRYPTIONS = ['kms', 'AES256', 'customer'] as const;
export type Encryption = (typeof ENCRYPTIONS)[number];

/**
 * One object in a bucket; storageClass defaults to STANDARD, region (its bucket's) to the
 * emulator's default region, and it is not encrypted unless `encryption` says how.
 */
export interface ObsObject {
  readonly bucket: string;
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  readonly storageClass?: StorageClass;
  readonly region?: string;
  readonly encryption?: Encryption;
}

/** A bucket declared on its own (it may hold no object): its default storage class (STANDARD) and region. */
export interface ObsBucket {
  readonly bucket: string;
  readonly storageClass?: StorageClass;
  readonly region?: string;
}

/** An entry of --objects: an object, or, without a key, a bucket. */
export type ObsEntry = ObsObject | ObsBucket;

export interface StoredBucket {
  readonly bucket: string;
  readonly storageClass: StorageClass;
  readonly region: string;
}

/** An object as OBS holds it: what was uploaded, and what the upload gave it. */
export interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  readonly storageClass: StorageClass;
  readonly encryption?: Encryption;
  /** The upload's number, counted over the emulator's life (0 for the default world's objects). */
  readonly upload: number;
  /** `"<32 hex>"`, new with every upload. */
  readonly etag: string;
  /** Milliseconds since the epoch, by the emulator's clock. */
  readonly uploadedAt: number;
}

/** Why a job that reads the file fails, or the file's size when it can be imported. */
export type FileCheck =
  | { readonly ok: true; readonly size: number }
  | { readonly ok: false; readonly code: ImgCode; readonly reason: string };

const TERABYTE = 1024 ** 4;
const DEFAULT_SIZE = 8 * 1024 ** 3;
const IMPORTABLE = /\.(raw|zvhd2)$/i;
/** What the default world holds: image files and the bitmaps beside its RAW files (every RAW file exists there). */
const DEFAULT_OBJECT = /\.(raw|zvhd2|mf)$/i;
const OBJECT_FIELDS = ['bucket', 'key', 'size', 'storageClass', 'region', 'encryption'];
const BUCKET_FIELDS = ['bucket', 'storageClass', 'region'];

export class Obs {
  private objects = new Map<string, StoredObject>();
  private buckets = new Map<string, StoredBucket>();
  /** Never reset, so that no ETag comes back after a reset. */
  private uploads = 0;
  private readonly initial: { objects: Map<string, StoredObject>; buckets: Map<string, StoredBucket> };
  private readonly startedAt: number;
  /**
   * `entries` undefined is the default world: every bucket exists (Standard, in the region that
   * asks: every region's OBS has it), and in each every `*.zvhd2` and `*.raw` object (Standard,
   * 8 GiB), each `.raw` with its `.mf` bitmap, and nothing else. Objects put later are kept beside it.
   */
  readonly defaultWorld: boolean;

  constructor(
    entries: readonly ObsEntry[] | undefined,
    /** The emulator's default region: that of entries that name none. */
    readonly region: string,
    private readonly clock: () => number,
  ) {
    this.defaultWorld = entries === undefined;
    this.startedAt = clock();
    for (const entry of entries ?? []) this.put(entry);
    this.initial = { objects: new Map(this.objects), buckets: new Map(this.buckets) };
  }

  /** Back to the objects and buckets it started with (with their ETags). */
  reset(): void {
    this.objects = new Map(this.initial.objects);
    this.buckets = new Map(this.initial.buckets);
  }

  /**
   * Uploads an object (a new one, or a new version of one, with a new ETag) or declares a bucket
   * (replacing its storage class). A bucket's region is fixed when it is first made: an entry
   * without a region takes it, one naming another region is refused.
   */
  put(entry: ObsEntry): StoredObject | StoredBucket {
    const existing = this.buckets.get(entry.bucket);
    const region = entry.region ?? existing?.region ?? this.region;
    if (existing !== undefined && existing.region !== region) {
      throw new Error(`bucket ${entry.bucket} is in region ${existing.region}, not ${region}`);
    }
    if (!('key' in entry)) {
      const bucket: StoredBucket = { bucket: entry.bucket, storageClass: entry.storageClass ?? 'STANDARD', region };
      this.buckets.set(entry.bucket, bucket);
      return bucket;
    }
    if (existing === undefined) {
      this.buckets.set(entry.bucket, { bucket: entry.bucket, storageClass: 'STANDARD', region });
    }
    const object = stored(entry, ++this.uploads, this.clock());
    this.objects.set(objectId(entry.bucket, entry.key), object);
    return object;
  }

  /** The bucket as `region`'s OBS sees it, or undefined when it does not exist. */
  bucket(name: string, region = this.region): StoredBucket | undefined {
    const found = this.buckets.get(name);
    if (found !== undefined || !this.defaultWorld) return found;
    return { bucket: name, storageClass: 'STANDARD', region };
  }

  /** The object, or undefined when its bucket or it does not exist. */
  object(bucket: string, key: string): StoredObject | undefined {
    const found = this.objects.get(objectId(bucket, key));
    if (found !== undefined || !this.defaultWorld || !DEFAULT_OBJECT.test(key)) return found;
    return stored({ bucket, key, size: DEFAULT_SIZE }, 0, this.startedAt);
  }

  /** What it holds beyond the default world, for inspection. */
  snapshot(): { defaultWorld: boolean; buckets: StoredBucket[]; objects: ObsObjectView[] } {
    return {
      defaultWorld: this.defaultWorld,
      buckets: [...this.buckets.values()],
      objects: [...this.objects.values()].map((object) => this.view(object)),
    };
  }

  /** With its bucket's region and an ISO upload time. */
  view(object: StoredObject): ObsObjectView {
    const { uploadedAt, ...rest } = object;
    return { ...rest, region: this.bucket(object.bucket)?.region ?? this.region, uploadedAt: iso(uploadedAt) };
  }

  /**
   * The checks of an import in `region`, in the order IMS would meet the problems: the format (from
   * the name; IMG.0072 is our choice, the docs name no code for it), the bucket's region, the object, the storage class of
   * the bucket and of the object, SSE-C, the bitmap of a RAW file, the size. The docs give no code
   * for a storage class other than Standard, for an SSE-C object (the OTC user guide allows only
   * unencrypted and SSE-KMS files; SSE-OBS is not mentioned and is let through) or for a missing
   * bitmap; all are IMG.0057 (the file cannot be read), with a reason naming which.
   */
  check(bucket: string, key: string, region: string): FileCheck {
    if (!IMPORTABLE.test(key)) {
      return fail(
        'IMG.0072',
        `${bucket}:${key} is not a RAW or ZVHD2 file (only .raw and .zvhd2 can be imported quickly)`,
      );
    }
    const found = this.bucket(bucket, region);
    if (found !== undefined && found.region !== region) {
      return fail('IMG.0058', `bucket ${bucket} is in region ${found.region}, the image is created in ${region}`);
    }
    const object = this.object(bucket, key);
    if (found === undefined || object === undefined)
      return fail('IMG.0057', `object ${key} not found in bucket ${bucket}`);
    if (found.storageClass !== 'STANDARD') {
      return fail('IMG.0057', `bucket ${bucket} is in storage class ${found.storageClass}; it must be STANDARD`);
    }
    if (object.storageClass !== 'STANDARD') {
      return fail(
        'IMG.0057',
        `object ${key} in bucket ${bucket} is in storage class ${object.storageClass}; it must be STANDARD`,
      );
    }
    if (object.encryption === 'customer') {
      return fail(
        'IMG.0057',
        `object ${key} in bucket ${bucket} is encrypted with a customer-provided key (SSE-C); only unencrypted and SSE-KMS files can be imported`,
      );
    }
    if (/\.raw$/i.test(key)) {
      const bitmap = `${key.slice(0, -'.raw'.length)}.mf`;
      if (this.object(bucket, bitmap) === undefined) {
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
}

/** An object as inspection shows it. */
export type ObsObjectView = Omit<StoredObject, 'uploadedAt'> & { readonly region: string; readonly uploadedAt: string };

function stored(object: ObsObject, upload: number, uploadedAt: number): StoredObject {
  const { bucket, key, size, storageClass = 'STANDARD', encryption } = object;
  const etag = createHash('md5').update(`${bucket}/${key}/${size}/${upload}`).digest('hex');
  return {
    bucket,
    key,
    size,
    storageClass,
    ...(encryption === undefined ? {} : { encryption }),
    upload,
    etag: `"${etag}"`,
    uploadedAt,
  };
}

function objectId(bucket: string, key: string): string {
  return `${bucket}\n${key}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function fail(code: ImgCode, reason: string): FileCheck {
  return { ok: false, code, reason };
}

/**
 * An --objects file: a JSON array of entries, objects {bucket, key, size, storageClass, region,
 * encryption} and buckets {bucket, storageClass, region} (no key). A bucket's region is given by
 * every entry of the bucket alike, or by none; a bucket is declared at most once and an object
 * given at most once. Throws naming the file and the bad entry.
 */
export function parseObjectsFile(text: string, source: string): ObsEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(parsed)) {
    throw new Error(
      `${source}: expected a JSON array of objects {${OBJECT_FIELDS.join(', ')}} and buckets {${BUCKET_FIELDS.join(', ')}}`,
    );
  }
  const entries = parsed.map((entry: unknown, index) => parseObsEntry(entry, `${source}: entry ${index}`));
  const regions = new Map<string, string | undefined>();
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    const isObject = 'key' in entry;
    const where = `${source}: entry ${index} (${isObject ? `${entry.bucket}:${entry.key}` : entry.bucket})`;
    // A region belongs to a bucket; entries only repeat it.
    if (regions.has(entry.bucket) && regions.get(entry.bucket) !== entry.region) {
      throw new Error(`${where}: bucket ${entry.bucket} is given two regions`);
    }
    regions.set(entry.bucket, entry.region);
    const id = isObject ? `object ${objectId(entry.bucket, entry.key)}` : `bucket ${entry.bucket}`;
    if (seen.has(id)) {
      throw new Error(
        isObject
          ? `${where}: object ${entry.key} is given twice`
          : `${where}: bucket ${entry.bucket} is declared twice`,
      );
    }
    seen.add(id);
  });
  return entries;
}

/** One entry of an --objects file (or of PUT /__emulator/objects); throws naming `where` and the bad field. */
export function parseObsEntry(entry: unknown, where: string): ObsEntry {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new Error(
      `${where}: expected an object {${OBJECT_FIELDS.join(', ')}} or a bucket {${BUCKET_FIELDS.join(', ')}}`,
    );
  }
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find((name) => !OBJECT_FIELDS.includes(name));
  if (unknown !== undefined) {
    throw new Error(`${where}: unknown field ${JSON.stringify(unknown)} (expected ${OBJECT_FIELDS.join(', ')})`);
  }
  const { bucket, key, size, storageClass, region, encryption } = fields;
  if (typeof bucket !== 'string' || bucket === '') throw new Error(`${where}: bucket must be a non-empty string`);
  const declaresBucket = key === undefined && size === undefined && encryption === undefined;
  const at = declaresBucket ? `${where} (${bucket})` : `${where} (${bucket}:${String(key)})`;
  if (storageClass !== undefined && !STORAGE_CLASSES.includes(storageClass as StorageClass)) {
    throw new Error(`${at}: storageClass must be one of ${STORAGE_CLASSES.join(', ')}`);
  }
  if (region !== undefined && (typeof region !== 'string' || region === '')) {
    throw new Error(`${at}: region must be a non-empty string`);
  }
  const common = {
    bucket,
    ...(storageClass === undefined ? {} : { storageClass: storageClass as StorageClass }),
    ...(region === undefined ? {} : { region }),
  };
  if (declaresBucket) return common;
  if (typeof key !== 'string' || key === '') {
    throw new Error(
      `${where} (${bucket}): key must be a non-empty string (an entry with only ${BUCKET_FIELDS.join(', ')} declares a bucket)`,
    );
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new Error(`${at}: size must be a whole number of bytes`);
  }
  if (encryption !== undefined && !ENCRYPTIONS.includes(encryption as Encryption)) {
    throw new Error(`${at}: encryption must be one of ${ENCRYPTIONS.join(', ')}`);
  }
  return { ...common, key, size, ...(encryption === undefined ? {} : { encryption: encryption as Encryption }) };
}
