// The pre-flight over a world of buckets and objects held in memory, on a fake clock: each class
// of problem named with its file, nothing asked twice, and what passed trusted for a while.
import { describe, expect, it } from 'vitest';
import { ObsError, type BucketHead, type ObjectHead } from '../../src/obs/client.js';
import { planChanges, type Plan } from '../../src/plan/plan.js';
import { EMPTY_CACHE, preflight, type ObsApi, type PreflightDeps } from '../../src/preflight/preflight.js';
import { emptyState, type State } from '../../src/state/model.js';
import { FakeClock } from '../support/fake-clock.js';
import { manifest, systemSpec } from '../support/specs.js';
import { imported, set } from '../support/states.js';

const REGION = 'ap-southeast-1';
const HOUR = 3_600_000;

interface FakeObject {
  readonly size?: number;
  readonly etag?: string;
  readonly storageClass?: string;
  readonly encryption?: 'kms' | 'AES256' | 'customer';
}

/** Buckets by name, each with its objects by key; `fail` names what no attempt gets an answer for. */
class FakeObs implements ObsApi {
  readonly asked: string[] = [];
  constructor(
    readonly buckets: Record<string, { region?: string; storageClass?: string; objects: Record<string, FakeObject> }>,
    readonly fail: ReadonlySet<string> = new Set(),
    readonly deny: ReadonlySet<string> = new Set(),
  ) {}

  headBucket(bucket: string): Promise<BucketHead> {
    this.asked.push(`bucket ${bucket}`);
    if (this.fail.has(bucket))
      return Promise.reject(new ObsError(`HEAD bucket ${bucket}: 503 SlowDown; gave up after 6 attempts`, 'SlowDown'));
    if (this.deny.has(bucket)) return Promise.resolve({ kind: 'denied', status: 403, code: 'AccessDenied' });
    const found = this.buckets[bucket];
    if (!found) return Promise.resolve({ kind: 'missing' });
    const region = found.region ?? REGION;
    if (region !== REGION) {
      return Promise.resolve({
        kind: 'moved',
        status: 301,
        location: `https://${bucket}.obs.${region}.myhuaweicloud.com/`,
      });
    }
    return Promise.resolve({
      kind: 'found',
      region,
      storageClass: found.storageClass ?? 'STANDARD',
      fileSystem: false,
    });
  }

  headObject(bucket: string, key: string): Promise<ObjectHead> {
    this.asked.push(`${bucket}:${key}`);
    if (this.fail.has(`${bucket}:${key}`))
      return Promise.reject(new ObsError(`HEAD ${bucket}:${key}: ECONNRESET`, 'ECONNRESET'));
    const object = this.buckets[bucket]?.objects[key];
    if (!object) return Promise.resolve({ kind: 'missing', code: this.buckets[bucket] ? 'NoSuchKey' : 'NoSuchBucket' });
    return Promise.resolve({
      kind: 'found',
      size: object.size ?? 8 * 1024 ** 3,
      etag: object.etag ?? `"${key.length.toString(16).padStart(32, '0')}"`,
      storageClass: object.storageClass ?? 'STANDARD',
      ...(object.encryption ? { encryption: object.encryption } : {}),
    });
  }
}

function planFor(images: Record<string, string>, state: State = emptyState()): Plan {
  const manifests = Object.entries(images).map(([key, url]) => manifest(key, systemSpec(key, { image_url: url })));
  return planChanges(manifests, state, { defaultRegion: REGION });
}

function deps(obs: ObsApi, clock = new FakeClock(), quota?: { used: number; quota: number }): PreflightDeps {
  return { obs, clock, ...(quota ? { quota: () => Promise.resolve(quota) } : {}) };
}

const OPTIONS = { region: REGION, maxAgeMs: HOUR, concurrency: 8, reuploads: true };

describe('the pre-flight', () => {
  it('names each class of problem with its manifest and file, and passes what is fine', async () => {
    const obs = new FakeObs({
      golden: {
        objects: {
          'ok.zvhd2': {},
          'ok.raw': {},
          'ok.mf': {},
          'nobitmap.raw': {},
          'big.zvhd2': { size: 1024 ** 4 + 1 },
          'empty.zvhd2': { size: 0 },
          'warm.zvhd2': { storageClass: 'WARM' },
          'ssec.zvhd2': { encryption: 'customer' },
          'kms.zvhd2': { encryption: 'kms' },
        },
      },
      archive: { storageClass: 'COLD', objects: { 'a.zvhd2': {} } },
      faraway: { region: 'eu-west-101', objects: { 'b.zvhd2': {} } },
    });
    const plan = planFor({
      ok: 'golden:ok.zvhd2',
      'ok-raw': 'golden:ok.raw',
      kms: 'golden:kms.zvhd2',
      nobitmap: 'golden:nobitmap.raw',
      big: 'golden:big.zvhd2',
      empty: 'golden:empty.zvhd2',
      warm: 'golden:warm.zvhd2',
      ssec: 'golden:ssec.zvhd2',
      absent: 'golden:absent.zvhd2',
      qcow: 'golden:disk.qcow2',
      noext: 'golden:disk',
      cold: 'archive:a.zvhd2',
      far: 'faraway:b.zvhd2',
      nobucket: 'nowhere:c.zvhd2',
    });
    const { report, cache } = await preflight(plan, undefined, deps(obs), OPTIONS);
    expect(report.problems.map(({ key, code, file }) => [key, code, file])).toEqual([
      ['absent', 'OBJECT_MISSING', 'golden:absent.zvhd2'],
      ['big', 'OBJECT_TOO_BIG', 'golden:big.zvhd2'],
      ['cold', 'BUCKET_CLASS', 'archive:a.zvhd2'],
      ['empty', 'OBJECT_EMPTY', 'golden:empty.zvhd2'],
      ['far', 'BUCKET_REGION', 'faraway:b.zvhd2'],
      ['nobitmap', 'BITMAP_MISSING', 'golden:nobitmap.raw'],
      ['nobucket', 'BUCKET_MISSING', 'nowhere:c.zvhd2'],
      ['noext', 'FORMAT', 'golden:disk'],
      ['qcow', 'FORMAT', 'golden:disk.qcow2'],
      ['ssec', 'OBJECT_ENCRYPTION', 'golden:ssec.zvhd2'],
      ['warm', 'OBJECT_CLASS', 'golden:warm.zvhd2'],
    ]);
    const reason = (key: string) => report.problems.find((problem) => problem.key === key)!.reason;
    expect(reason('qcow')).toMatch(
      /golden:disk\.qcow2 is a QCOW2 file: quick import takes RAW and ZVHD2 files only\. IMS's common image import serves QCOW2; imsync does not/,
    );
    expect(reason('nobitmap')).toMatch(/without its bitmap nobitmap\.mf beside it/);
    expect(reason('far')).toMatch(
      /bucket faraway is not in region ap-southeast-1: OBS there answered 301, pointing to faraway\.obs\.eu-west-101/,
    );
    expect(reason('big')).toMatch(/is 1\.0 TiB \(1099511627777 bytes\); quick import takes files of at most 1 TB/);
    expect(Object.keys(cache.objects).sort()).toEqual(['golden:kms.zvhd2', 'golden:ok.raw', 'golden:ok.zvhd2']);
    // A bucket is asked once, however many files are in it; nothing follows a bucket that is elsewhere or missing; no request for a name that cannot be imported.
    expect(obs.asked.filter((asked) => asked === 'bucket golden')).toHaveLength(1);
    expect(obs.asked).not.toContain('faraway:b.zvhd2');
    expect(obs.asked).not.toContain('nowhere:c.zvhd2');
    expect(obs.asked).not.toContain('golden:disk.qcow2');
    expect(obs.asked).toContain('golden:ok.mf');
    expect(report.requests).toBe(obs.asked.length);
  });

  it('never reads a refusal or an unanswered request as a verdict on the file', async () => {
    const obs = new FakeObs(
      { golden: { objects: { 'a.zvhd2': {}, 'b.zvhd2': {} } }, locked: { objects: {} } },
      new Set(['golden:b.zvhd2']),
      new Set(['locked']),
    );
    const plan = planFor({ a: 'golden:a.zvhd2', b: 'golden:b.zvhd2', c: 'locked:c.zvhd2' });
    const { report } = await preflight(plan, undefined, deps(obs), OPTIONS);
    expect(report.problems.map(({ key, code }) => [key, code])).toEqual([
      ['b', 'UNCHECKED'],
      ['c', 'ACCESS_DENIED'],
    ]);
    expect(report.problems[0]!.reason).toMatch(
      /could not be checked \(HEAD golden:b\.zvhd2: ECONNRESET\); --no-preflight/,
    );
    expect(report.problems[1]!.reason).toMatch(
      /403 AccessDenied: the credentials need obs:bucket:HeadBucket and obs:object:GetObject/,
    );
  });

  it('checks the quota against the new images, and says so when it cannot be read', async () => {
    const obs = new FakeObs({ golden: { objects: { 'a.zvhd2': {}, 'b.zvhd2': {}, 'c.zvhd2': {} } } });
    const plan = planFor({ a: 'golden:a.zvhd2', b: 'golden:b.zvhd2', c: 'golden:c.zvhd2' });
    const full = await preflight(plan, undefined, deps(obs, new FakeClock(), { used: 8, quota: 10 }), OPTIONS);
    expect(full.report.problems.map(({ code, reason }) => [code, reason])).toEqual([
      [
        'QUOTA',
        "the plan imports 3 images, but the account's private image quota has room for 2 (8 of 10 used); raise the quota or import fewer at once",
      ],
    ]);
    const roomy = await preflight(plan, undefined, deps(obs, new FakeClock(), { used: 7, quota: 10 }), OPTIONS);
    expect(roomy.report.problems).toEqual([]);
    const unreadable = await preflight(
      plan,
      undefined,
      { obs, clock: new FakeClock(), quota: () => Promise.reject(new Error('503 from IMS')) },
      OPTIONS,
    );
    expect(unreadable.report.problems).toEqual([]);
    expect(unreadable.report.warnings.map((warning) => warning.code)).toEqual(['UNCHECKED']);
  });

  it('trusts what passed for maxAge: a second plan sends nothing; a failure is asked again every time', async () => {
    const images = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`img-${i}`, `golden:img-${i}.raw`]));
    const objects = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [
        [`img-${i}.raw`, {}],
        [`img-${i}.mf`, {}],
      ]).flat(),
    ) as Record<string, FakeObject>;
    delete objects['img-7.mf'];
    const obs = new FakeObs({ golden: { objects } });
    const clock = new FakeClock();
    const plan = planFor(images);
    const first = await preflight(plan, EMPTY_CACHE, deps(obs, clock), OPTIONS);
    expect(first.report).toMatchObject({ files: 50, cached: 0, requests: 1 + 50 * 2 });
    expect(first.report.problems.map((problem) => problem.key)).toEqual(['img-7']);

    obs.asked.length = 0;
    await clock.advance(HOUR - 1);
    const second = await preflight(plan, first.cache, deps(obs, clock), OPTIONS);
    expect(second.report).toMatchObject({ files: 50, cached: 49, requests: 2 });
    expect(obs.asked.sort()).toEqual(['golden:img-7.mf', 'golden:img-7.raw']);
    expect(second.cache.objects['golden:img-3.raw']).toEqual(first.cache.objects['golden:img-3.raw']);

    await clock.advance(1);
    const stale = await preflight(plan, second.cache, deps(obs, clock), OPTIONS);
    expect(stale.report).toMatchObject({ cached: 0, requests: 1 + 50 * 2 });
  });

  it('sees a file uploaded again under the same key after its import, and nothing in a file gone since', async () => {
    const obs = new FakeObs({ golden: { objects: { 'a.zvhd2': { etag: '"new"' }, 'b.zvhd2': { etag: '"same"' } } } });
    let state = imported(emptyState(), 'a', systemSpec('a', { image_url: 'golden:a.zvhd2' }), REGION);
    state = imported(state, 'b', systemSpec('b', { image_url: 'golden:b.zvhd2' }), REGION);
    state = imported(state, 'c', systemSpec('c', { image_url: 'golden:c.zvhd2' }), REGION);
    for (const [key, etag] of [
      ['a', '"old"'],
      ['b', '"same"'],
      ['c', '"gone"'],
    ] as const) {
      state = set(state, key, { ...state.images[key]!, source: { etag, size: 1 } });
    }
    const plan = planFor({ a: 'golden:a.zvhd2', b: 'golden:b.zvhd2', c: 'golden:c.zvhd2' }, state);
    const { report, reuploaded } = await preflight(plan, undefined, deps(obs), OPTIONS);
    expect(report.problems).toEqual([]);
    expect(report.warnings).toEqual([
      {
        code: 'SOURCE_CHANGED',
        key: 'a',
        file: 'golden:a.zvhd2',
        reason:
          'golden:a.zvhd2 was uploaded again since its image was imported (ETag "old", now "new"); the image holds the file as it was',
      },
    ]);
    expect([...reuploaded]).toEqual([['a', { etag: '"new"', size: 8 * 1024 ** 3 }]]);
  });
});
