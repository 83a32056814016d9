// What IMS requires of a quick import's image file (research/obs-preflight.md §4), judged from
// what OBS says of the bucket and the object. Pure: the answers come in, the problems go out. An
// answer that says nothing (a refusal, a request that failed) is never read as "missing".
import type { BucketHead, ObjectHead } from '../obs/client.js';
import type { PreflightCode, PreflightProblem } from '../plan/plan.js';

/** Quick import takes at most 1 TB; the newer IMS pages write 1 TiB, the larger reading. */
export const MAX_IMAGE_BYTES = 1024 ** 4;

/** An image file as a manifest names it (`image_url: bucket:key`). */
export interface ImageFile {
  readonly bucket: string;
  readonly key: string;
}

export function imageFile(imageUrl: string): ImageFile {
  const colon = imageUrl.indexOf(':');
  return { bucket: imageUrl.slice(0, colon), key: imageUrl.slice(colon + 1) };
}

export function fileName({ bucket, key }: ImageFile): string {
  return `${bucket}:${key}`;
}

/** The formats of the common image import (POST /v2/cloudimages/action), which quick import does not take. */
const OTHER_FORMATS: Readonly<Record<string, string>> = {
  qcow2: 'QCOW2',
  qcow: 'QCOW',
  vmdk: 'VMDK',
  vhd: 'VHD',
  vhdx: 'VHDX',
  vdi: 'VDI',
  qed: 'QED',
  zvhd: 'ZVHD',
  iso: 'ISO',
};

export type Format = 'raw' | 'zvhd2';

/** RAW or ZVHD2 by the file's extension, or why the file cannot be imported quickly. */
export function formatOf(file: ImageFile): { readonly format: Format } | { readonly problem: string } {
  const extension = /\.([A-Za-z0-9]+)$/.exec(file.key)?.[1]?.toLowerCase();
  if (extension === 'raw' || extension === 'zvhd2') return { format: extension };
  const other = extension === undefined ? undefined : OTHER_FORMATS[extension];
  if (other !== undefined) {
    return {
      problem: `${fileName(file)} is a ${other} file: quick import takes RAW and ZVHD2 files only. IMS's common image import serves ${other}; imsync does not (convert it with qemu-img to RAW or ZVHD2)`,
    };
  }
  return {
    problem: `${fileName(file)} has neither the .raw nor the .zvhd2 extension: quick import takes RAW and ZVHD2 files only, and IMS tells them by their extension`,
  };
}

/** A RAW file's bitmap: the same name with .mf, in the same bucket (made by CreateMF.jar). */
export function bitmapOf(file: ImageFile): ImageFile {
  return { bucket: file.bucket, key: file.key.replace(/\.raw$/i, '.mf') };
}

/** What OBS said of a bucket: an answer, or the failure of every attempt to get one. */
export type BucketAnswer = BucketHead | { readonly kind: 'failed'; readonly message: string };
export type ObjectAnswer = ObjectHead | { readonly kind: 'failed'; readonly message: string };

type Found<T> = Extract<T, { kind: 'found' }>;

/**
 * The bucket's problems for an image imported in `region`. `blocking` says the objects in it cannot
 * be looked at usefully (it does not exist, or it is served elsewhere).
 */
export function judgeBucket(
  bucket: string,
  answer: BucketAnswer,
  region: string | undefined,
): { readonly problems: readonly Omit<PreflightProblem, 'key' | 'file'>[]; readonly blocking: boolean } {
  switch (answer.kind) {
    case 'found': {
      const problems = [];
      if (region !== undefined && answer.region !== undefined && answer.region !== region) {
        problems.push(
          problem(
            'BUCKET_REGION',
            `bucket ${bucket} is in region ${answer.region}; the image is imported in ${region}, and IMS reads only buckets of its own region`,
          ),
        );
      }
      if (answer.storageClass !== undefined && answer.storageClass !== 'STANDARD') {
        problems.push(
          problem(
            'BUCKET_CLASS',
            `bucket ${bucket} has the storage class ${answer.storageClass}; IMS imports only from buckets of the Standard class`,
          ),
        );
      }
      return { problems, blocking: problems.some((found) => found.code === 'BUCKET_REGION') };
    }
    case 'missing':
      return { problems: [problem('BUCKET_MISSING', `bucket ${bucket} does not exist`)], blocking: true };
    case 'moved':
      return {
        problems: [
          problem(
            'BUCKET_REGION',
            `bucket ${bucket} is not in region ${region ?? 'of this endpoint'}: OBS there answered ${answer.status}${answer.location ? `, pointing to ${new URL(answer.location).host}` : ''}; IMS reads only buckets of its own region`,
          ),
        ],
        blocking: true,
      };
    case 'denied':
      return { problems: [denied(`bucket ${bucket}`, answer)], blocking: true };
    case 'failed':
      return { problems: [unchecked(`bucket ${bucket}`, answer.message)], blocking: true };
  }
}

/** The object's problems: it exists, is not empty, at most 1 TB, Standard, not encrypted with a customer key. */
export function judgeObject(file: ImageFile, answer: ObjectAnswer): Omit<PreflightProblem, 'key' | 'file'>[] {
  const name = fileName(file);
  switch (answer.kind) {
    case 'found':
      return objectProblems(name, answer);
    case 'missing':
      return [
        answer.code === 'NoSuchBucket'
          ? problem('BUCKET_MISSING', `bucket ${file.bucket} does not exist`)
          : problem('OBJECT_MISSING', `${name} does not exist`),
      ];
    case 'moved':
      return [problem('BUCKET_REGION', `${name}: OBS answered ${answer.status}; the bucket is served elsewhere`)];
    case 'denied':
      return [denied(name, answer)];
    case 'failed':
      return [unchecked(name, answer.message)];
  }
}

/** A RAW file's bitmap: beside it, and readable as the file is. */
export function judgeBitmap(file: ImageFile, answer: ObjectAnswer): Omit<PreflightProblem, 'key' | 'file'>[] {
  const bitmap = bitmapOf(file);
  if (answer.kind === 'missing' && answer.code !== 'NoSuchBucket') {
    return [
      problem(
        'BITMAP_MISSING',
        `${fileName(file)} is a RAW file without its bitmap ${bitmap.key} beside it; quick import of a RAW file needs one (CreateMF.jar makes it)`,
      ),
    ];
  }
  if (answer.kind === 'found') {
    // Its size is any; its class and encryption matter as the file's do.
    return objectProblems(fileName(bitmap), answer).filter((found) => found.code !== 'OBJECT_EMPTY');
  }
  return judgeObject(bitmap, answer);
}

function objectProblems(name: string, object: Found<ObjectHead>): Omit<PreflightProblem, 'key' | 'file'>[] {
  const problems = [];
  if (object.size === 0) problems.push(problem('OBJECT_EMPTY', `${name} is empty (0 bytes)`));
  if (object.size > MAX_IMAGE_BYTES) {
    problems.push(
      problem(
        'OBJECT_TOO_BIG',
        `${name} is ${bytes(object.size)}; quick import takes files of at most 1 TB (${MAX_IMAGE_BYTES} bytes)`,
      ),
    );
  }
  if (object.storageClass !== 'STANDARD') {
    problems.push(
      problem(
        'OBJECT_CLASS',
        `${name} has the storage class ${object.storageClass}; IMS reads only Standard objects (change its class, or copy it, to Standard)`,
      ),
    );
  }
  if (object.encryption === 'customer') {
    problems.push(
      problem(
        'OBJECT_ENCRYPTION',
        `${name} is encrypted with a key of the customer's (SSE-C), which IMS cannot read; only unencrypted or SSE-KMS files can be imported`,
      ),
    );
  }
  return problems;
}

/** New images the plan makes against the account's private image quota, or undefined when they fit. */
export function quotaProblem(imports: number, used: number, quota: number): PreflightProblem | undefined {
  const room = Math.max(0, quota - used);
  if (imports <= room) return undefined;
  return problem(
    'QUOTA',
    `the plan imports ${imports} image${imports === 1 ? '' : 's'}, but the account's private image quota has room for ${room} (${used} of ${quota} used); raise the quota or import fewer at once`,
  );
}

function denied(
  subject: string,
  answer: Extract<BucketHead, { kind: 'denied' }>,
): Omit<PreflightProblem, 'key' | 'file'> {
  const code = answer.code ?? `HTTP ${answer.status}`;
  const id = answer.requestId === undefined ? '' : ` (request id ${answer.requestId})`;
  const hint =
    answer.code === 'AccessDenied'
      ? ': the credentials need obs:bucket:HeadBucket and obs:object:GetObject on it'
      : answer.code === 'RequestTimeTooSkewed'
        ? ": this machine's clock is more than 15 minutes off"
        : '';
  return problem('ACCESS_DENIED', `OBS refused to describe ${subject}: ${answer.status} ${code}${id}${hint}`);
}

function unchecked(subject: string, message: string): Omit<PreflightProblem, 'key' | 'file'> {
  return problem('UNCHECKED', `${subject} could not be checked (${message}); --no-preflight plans without the checks`);
}

function problem(code: PreflightCode, reason: string): PreflightProblem {
  return { code, reason };
}

function bytes(size: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${size} bytes` : `${value.toFixed(1)} ${units[unit]} (${size} bytes)`;
}
