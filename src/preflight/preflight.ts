// The pre-flight: before a plan imports anything, each image file it would import is looked at
// through OBS (HEAD Bucket, HEAD Object, and a RAW file's bitmap), so that what would fail a job
// twenty minutes later fails the plan now, naming the file. Files already imported are looked at
// too, for a re-upload under the same key. What passed is cached by file, with its ETag, for a
// while: an unchanged plan does not ask OBS again at every run.
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { ObsError, type BucketHead, type ObjectHead } from '../obs/client.js';
import type { Plan, PlanEntry, PreflightProblem, PreflightReport } from '../plan/plan.js';
import type { CheckedBucket, CheckedObject, PreflightCache, SourceObject } from '../state/model.js';
import {
  bitmapOf,
  fileName,
  formatOf,
  imageFile,
  judgeBitmap,
  judgeBucket,
  judgeObject,
  quotaProblem,
  type BucketAnswer,
  type ImageFile,
  type ObjectAnswer,
} from './checks.js';

export interface ObsApi {
  headBucket(bucket: string, signal?: AbortSignal): Promise<BucketHead>;
  headObject(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectHead>;
}

export interface PreflightDeps {
  readonly obs: ObsApi;
  /** The account's private image quota; without it the quota is not checked. */
  readonly quota?: (signal?: AbortSignal) => Promise<{ readonly used: number; readonly quota: number }>;
  readonly clock: Clock;
}

export interface PreflightOptions {
  /** The region of entries that name none; undefined when the connection does not know it. */
  readonly region?: string;
  /** How long a file or bucket that passed is trusted without asking again. */
  readonly maxAgeMs: number;
  /** HEADs in flight at once (within the OBS endpoint's request budget). */
  readonly concurrency: number;
  /** Look at the files of imported images too, for a re-upload (with a refresh of the cloud). */
  readonly reuploads: boolean;
  readonly signal?: AbortSignal;
}

export interface Preflighted {
  readonly report: PreflightReport;
  /** The cache with what was checked now, and without what is too old to trust. */
  readonly cache: PreflightCache;
  /** Imported images whose file was uploaded again since, by key: the file as it is now. */
  readonly reuploaded: ReadonlyMap<string, SourceObject>;
}

export const EMPTY_CACHE: PreflightCache = { objects: {}, buckets: {} };
/** The actions that send a quick import. */
const IMPORTS: ReadonlySet<PlanEntry['action']> = new Set(['import', 'retry', 'replace']);

interface FileVerdict {
  readonly problems: readonly Omit<PreflightProblem, 'key' | 'file'>[];
  /** The file as it is, when it passed. */
  readonly passed?: CheckedObject;
  /** The file as HEAD Object found it, passed or not (for a re-upload). */
  readonly seen?: SourceObject;
}

export async function preflight(
  plan: Plan,
  cached: PreflightCache | undefined,
  deps: PreflightDeps,
  options: PreflightOptions,
): Promise<Preflighted> {
  const now = deps.clock.now();
  const checkedAt = new Date(now).toISOString();
  const fresh = (entry: { readonly checkedAt: string }) => now - Date.parse(entry.checkedAt) < options.maxAgeMs;
  const objects: Record<string, CheckedObject> = keepFresh(cached?.objects, fresh);
  const buckets: Record<string, CheckedBucket> = keepFresh(cached?.buckets, fresh);
  let requests = 0;
  let fromCache = 0;
  /** A HEAD's answer, or the failure of every attempt: OBS said nothing either way. */
  const ask = async <T>(head: () => Promise<T>): Promise<T | { readonly kind: 'failed'; readonly message: string }> => {
    requests++;
    try {
      return await head();
    } catch (error) {
      if (error instanceof ObsError) return { kind: 'failed', message: error.message };
      throw error;
    }
  };

  const bucketVerdicts = new Map<string, Promise<ReturnType<typeof judgeBucket>>>();
  const checkBucket = (bucket: string, region: string | undefined) => {
    const id = `${bucket}\n${region ?? ''}`;
    let verdict = bucketVerdicts.get(id);
    if (verdict === undefined) {
      verdict = (async () => {
        const known = buckets[bucket];
        if (known && (region === undefined || known.region === region)) return { problems: [], blocking: false };
        const answer: BucketAnswer = await ask(() => deps.obs.headBucket(bucket, options.signal));
        const judged = judgeBucket(bucket, answer, region);
        if (answer.kind === 'found' && judged.problems.length === 0 && answer.region !== undefined) {
          buckets[bucket] = { region: answer.region, storageClass: answer.storageClass ?? 'STANDARD', checkedAt };
        }
        return judged;
      })();
      bucketVerdicts.set(id, verdict);
    }
    return verdict;
  };

  const checkFile = async (file: ImageFile, region: string | undefined): Promise<FileVerdict> => {
    const format = formatOf(file);
    if ('problem' in format) return { problems: [{ code: 'FORMAT', reason: format.problem }] };
    const name = fileName(file);
    const known = objects[name];
    if (known !== undefined && (region === undefined || buckets[file.bucket]?.region === region)) {
      fromCache++;
      return { problems: [], passed: known, seen: known };
    }
    const bucket = await checkBucket(file.bucket, region);
    if (bucket.blocking) return { problems: bucket.problems };
    const object: ObjectAnswer = await ask(() => deps.obs.headObject(file.bucket, file.key, options.signal));
    const problems = [...bucket.problems, ...judgeObject(file, object)];
    if (format.format === 'raw' && object.kind === 'found') {
      const bitmap = bitmapOf(file);
      problems.push(
        ...judgeBitmap(file, await ask(() => deps.obs.headObject(bitmap.bucket, bitmap.key, options.signal))),
      );
    }
    if (object.kind !== 'found') return { problems };
    const seen = { etag: object.etag, size: object.size };
    if (problems.length > 0) return { problems, seen };
    const passed = { ...seen, checkedAt };
    objects[name] = passed;
    return { problems, passed, seen };
  };

  // One look per file and region, however many manifests name it.
  const limit = pLimit(options.concurrency);
  const looks = new Map<string, Promise<FileVerdict>>();
  const look = (entry: PlanEntry, imageUrl: string) => {
    const region = entry.region ?? options.region;
    const file = imageFile(imageUrl);
    const id = `${fileName(file)}\n${region ?? ''}`;
    let verdict = looks.get(id);
    if (verdict === undefined) {
      verdict = limit(() => checkFile(file, region));
      looks.set(id, verdict);
    }
    return verdict;
  };

  const problems: PreflightProblem[] = [];
  const warnings: PreflightProblem[] = [];
  const reuploaded = new Map<string, SourceObject>();
  const imports = plan.entries.filter(isImport);
  const imported = options.reuploads ? plan.entries.filter(isImported) : [];
  await Promise.all([
    ...imports.map(async (entry) => {
      const imageUrl = entry.manifest.spec.image_url;
      const verdict = await look(entry, imageUrl);
      const file = fileName(imageFile(imageUrl));
      problems.push(...verdict.problems.map((found) => ({ ...found, key: entry.key, file })));
    }),
    // Only a file seen again with another ETag says anything: one gone or unreadable after its
    // import is no concern of the image, which holds its own copy.
    ...imported.map(async (entry) => {
      const recorded = entry.recorded.source!;
      const imageUrl = entry.recorded.spec.image_url;
      const { seen } = await look(entry, imageUrl);
      if (seen === undefined || seen.etag === recorded.etag) return;
      reuploaded.set(entry.key, seen);
      warnings.push({
        code: 'SOURCE_CHANGED',
        key: entry.key,
        file: fileName(imageFile(imageUrl)),
        reason: `${fileName(imageFile(imageUrl))} was uploaded again since its image was imported (ETag ${recorded.etag}, now ${seen.etag}); the image holds the file as it was`,
      });
    }),
  ]);

  if (imports.length > 0 && deps.quota) {
    const found = await deps.quota(options.signal).then(
      (quota) => quotaProblem(imports.length, quota.used, quota.quota),
      (error: unknown) => ({
        code: 'UNCHECKED' as const,
        reason: `the private image quota could not be read (${error instanceof Error ? error.message : String(error)}); IMS refuses an import beyond it when it is sent`,
      }),
    );
    if (found?.code === 'QUOTA') problems.push(found);
    else if (found) warnings.push(found);
  }

  const byKey = (a: PreflightProblem, b: PreflightProblem) => (a.key ?? '').localeCompare(b.key ?? '');
  return {
    report: {
      files: looks.size,
      cached: fromCache,
      requests,
      problems: problems.sort(byKey),
      warnings: warnings.sort(byKey),
    },
    cache: { objects, buckets },
    reuploaded,
  };
}

/** The caches of several regions' plans as one: each holds the state's, and what its region checked. */
export function mergeCaches(caches: readonly PreflightCache[]): PreflightCache {
  return {
    objects: Object.assign({}, ...caches.map((cache) => cache.objects)) as PreflightCache['objects'],
    buckets: Object.assign({}, ...caches.map((cache) => cache.buckets)) as PreflightCache['buckets'],
  };
}

/** Whether two caches hold the same: the state needs no write for an unchanged one. */
export function sameCache(a: PreflightCache, b: PreflightCache | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b ?? EMPTY_CACHE);
}

type Import = Extract<PlanEntry, { action: 'import' | 'retry' | 'replace' }>;
type Imported = Extract<PlanEntry, { action: 'none' | 'update' }>;

function isImport(entry: PlanEntry): entry is Import {
  return IMPORTS.has(entry.action);
}

/** An image imported from a file whose ETag was recorded. */
function isImported(entry: PlanEntry): entry is Imported {
  return (entry.action === 'none' || entry.action === 'update') && entry.recorded.source !== undefined;
}

function keepFresh<T extends { readonly checkedAt: string }>(
  entries: Readonly<Record<string, T>> | undefined,
  fresh: (entry: T) => boolean,
): Record<string, T> {
  return Object.fromEntries(Object.entries(entries ?? {}).filter(([, entry]) => fresh(entry)));
}
