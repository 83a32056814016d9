// refresh(): what the cloud was seen to hold, turned into record changes, drift and unadopted
// images. Pure: observations are written out by hand, dates are fixed. Nothing is concluded from
// what a list merely does not show (research/ims-fidelity.md §2): only an id lookup that found
// nothing, after the grace, deletes a record; only the tag API's answer speaks for ownership.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ownershipTags } from '../../src/ims/ownership.js';
import { specTags } from '../../src/manifest/spec.js';
import type { ImageSpec, ImageTag, Manifest } from '../../src/manifest/types.js';
import {
  refresh,
  type Drift,
  type ObservedImage,
  type Observations,
  type Refreshed,
  type RefreshOptions,
} from '../../src/refresh/refresh.js';
import {
  emptyState,
  failedRecord,
  foundRecord,
  intentRecord,
  type ImageRecord,
  type State,
  type SucceededRecord,
} from '../../src/state/model.js';
import { dataSpec, manifest, systemSpec } from '../support/specs.js';
import { at, failed, imported, set, submitted, submitting } from '../support/states.js';

const GRACE_MS = 10 * 60_000;
/** An hour after the records were last written: past the grace. */
const NOW = new Date(at.getTime() + 3_600_000);
/** Connected to ap-southeast-1: the observations are of that region alone. */
const OPTIONS: RefreshOptions = { now: NOW, graceMs: GRACE_MS, region: 'ap-southeast-1' };

/** The image of a succeeded record as the cloud shows it when nobody touched it. */
function asRecorded(key: string, record: ImageRecord, overrides: Partial<ObservedImage> = {}): ObservedImage {
  const description = record.spec.description;
  return {
    id: record.imageId!,
    name: record.spec.name,
    status: 'active',
    ...(description === undefined ? {} : { description }),
    tags: [...specTags(record.spec), ...ownershipTags(key, record.attemptId)],
    ...overrides,
  };
}

function observations(
  images: readonly ObservedImage[],
  {
    tagged = images.map((image) => image.id),
    absent = [],
  }: { tagged?: readonly string[]; absent?: readonly string[] } = {},
): Observations {
  return {
    images: new Map(images.map((image) => [image.id, image])),
    tagged: new Set(tagged),
    absent: new Set(absent),
  };
}

const tag = (key: string, value: string): ImageTag => ({ key, value });

/** The image with no description at all. */
function undescribed(image: ObservedImage): ObservedImage {
  const { description, ...rest } = image;
  return rest;
}

// One recorded image, `web`, as the rows below see it.
const WEB_SPEC = systemSpec('web', {
  description: 'the web tier',
  hw_firmware_type: 'bios',
  image_tags: [tag('team', 'web')],
});
const WEB = imported(emptyState(), 'web', WEB_SPEC, 'ap-southeast-1');
const web = WEB.images.web as SucceededRecord;
const webTags = (...user: ImageTag[]) => [...user, ...ownershipTags('web', web.attemptId)];
/** A record without the optional fields, written with the old tag form. */
const PLAIN = imported(emptyState(), 'web', systemSpec('web', { tags: ['team.web', 'tier.front.end'] }));
const plain = PLAIN.images.web as SucceededRecord;

type Expected =
  | { readonly change: 'none' }
  | { readonly change: 'removed'; readonly drift: Drift }
  /** Drift the record cannot hold (an ownership tag, a value no manifest may have): named, nothing recorded. */
  | { readonly change: 'named'; readonly drift: Drift }
  | { readonly change: 'record'; readonly spec: ImageSpec; readonly drift: Drift };

interface RecordedRow {
  readonly state: State;
  readonly seen: Observations;
  readonly now?: Date;
  readonly expected: Expected;
}

const deleted: Expected = { change: 'removed', drift: { kind: 'deleted', imageId: 'image-web' } };
const edited = (spec: ImageSpec, ...fields: string[]): Expected => ({
  change: 'record',
  spec,
  drift: { kind: 'edited', imageId: 'image-web', fields },
});
const named = (...fields: string[]): Expected => ({
  change: 'named',
  drift: { kind: 'edited', imageId: 'image-web', fields },
});
const NONE: Expected = { change: 'none' };

const recordedRows: Record<string, RecordedRow> = {
  'listed as recorded: no change': {
    state: WEB,
    seen: observations([asRecorded('web', web, { firmware: 'bios' })]),
    expected: NONE,
  },
  'listed as recorded, old tag form, no description or firmware written: no change': {
    state: PLAIN,
    seen: observations([asRecorded('web', plain, { firmware: 'uefi' })]),
    expected: NONE,
  },
  'listed as recorded, tags in another order: no change': {
    state: PLAIN,
    seen: observations([
      asRecorded('web', plain, {
        tags: [...ownershipTags('web', plain.attemptId), tag('tier', 'front.end'), tag('team', 'web')],
      }),
    ]),
    expected: NONE,
  },
  'absent, confirmed by id lookup, past the grace: removed, drift deleted': {
    state: WEB,
    seen: observations([], { absent: ['image-web'] }),
    expected: deleted,
  },
  'absent, confirmed by id lookup, exactly at the end of the grace: removed': {
    state: WEB,
    seen: observations([], { absent: ['image-web'] }),
    now: new Date(at.getTime() + GRACE_MS),
    expected: deleted,
  },
  'absent, confirmed by id lookup, within the grace: nothing': {
    state: WEB,
    seen: observations([], { absent: ['image-web'] }),
    now: new Date(at.getTime() + GRACE_MS - 1),
    expected: NONE,
  },
  "of another region, looked up here and not found: nothing (not this region's to judge)": {
    state: imported(emptyState(), 'web', WEB_SPEC, 'cn-north-4'),
    seen: observations([], { absent: ['image-web'] }),
    expected: NONE,
  },
  'of another region, listed here as deleted: nothing': {
    state: imported(emptyState(), 'web', WEB_SPEC, 'cn-north-4'),
    seen: observations([asRecorded('web', web, { status: 'deleted' })]),
    expected: NONE,
  },
  'of no recorded region, absent: removed (a record without a region is taken as this one)': {
    state: imported(emptyState(), 'web', WEB_SPEC),
    seen: observations([], { absent: ['image-web'] }),
    expected: deleted,
  },
  'only missing from the list (not looked up by id): nothing': {
    state: WEB,
    seen: observations([]),
    expected: NONE,
  },
  'missing from the list, another image confirmed absent: nothing': {
    state: WEB,
    seen: observations([], { absent: ['image-other'] }),
    expected: NONE,
  },
  'listed with status deleted, past the grace: removed, drift deleted': {
    state: WEB,
    seen: observations([asRecorded('web', web, { status: 'deleted' })]),
    expected: deleted,
  },
  'listed with status deleted, within the grace: nothing': {
    state: WEB,
    seen: observations([asRecorded('web', web, { status: 'deleted' })]),
    now: new Date(at.getTime() + 1000),
    expected: NONE,
  },
  'renamed: the record takes the name': {
    state: WEB,
    seen: observations([asRecorded('web', web, { name: 'web renamed' })]),
    expected: edited({ ...WEB_SPEC, name: 'web renamed' }, 'name'),
  },
  'description changed: the record takes it': {
    state: WEB,
    seen: observations([asRecorded('web', web, { description: 'edited by hand' })]),
    expected: edited({ ...WEB_SPEC, description: 'edited by hand' }, 'description'),
  },
  'description removed: the record takes the empty one': {
    state: WEB,
    seen: observations([undescribed(asRecorded('web', web))]),
    expected: edited({ ...WEB_SPEC, description: '' }, 'description'),
  },
  'description added where none was written: the record takes it': {
    state: PLAIN,
    seen: observations([asRecorded('web', plain, { description: 'added' })]),
    expected: edited({ ...plain.spec, description: 'added' }, 'description'),
  },
  'firmware changed, the spec states one: the record takes it': {
    state: WEB,
    seen: observations([asRecorded('web', web, { firmware: 'uefi' })]),
    expected: edited({ ...WEB_SPEC, hw_firmware_type: 'uefi' }, 'hw_firmware_type'),
  },
  'firmware seen, the spec states none: nothing': {
    state: PLAIN,
    seen: observations([asRecorded('web', plain, { firmware: 'bios' })]),
    expected: NONE,
  },
  'an arm image seen with bios (a spec cannot hold it): named, nothing recorded': {
    state: imported(emptyState(), 'web', systemSpec('web', { architecture: 'arm' })),
    seen: observations([{ id: 'image-web', name: 'web', status: 'active', firmware: 'bios', tags: webTags() }]),
    expected: named('hw_firmware_type'),
  },
  'user tags changed: the record takes them, ownership tags left out': {
    state: WEB,
    seen: observations([asRecorded('web', web, { tags: webTags(tag('team', 'ops'), tag('env', 'prod')) })]),
    expected: edited({ ...WEB_SPEC, image_tags: [tag('team', 'ops'), tag('env', 'prod')] }, 'tags'),
  },
  'user tags removed: the record takes none': {
    state: WEB,
    seen: observations([asRecorded('web', web, { tags: webTags() })]),
    expected: edited({ ...WEB_SPEC, image_tags: [] }, 'tags'),
  },
  'user tags changed on an old-form spec: image_tags replace tags': {
    state: PLAIN,
    seen: observations([
      asRecorded('web', plain, { tags: [tag('team', 'ops'), ...ownershipTags('web', plain.attemptId)] }),
    ]),
    expected: edited(
      {
        name: 'web',
        image_url: plain.spec.image_url,
        os_version: 'Ubuntu 22.04 server 64bit',
        min_disk: 40,
        image_tags: [tag('team', 'ops')],
      },
      'tags',
    ),
  },
  'listed, not in the tag API answer for imsync-key: drift ownership, spec unchanged': {
    state: WEB,
    seen: observations([asRecorded('web', web, { tags: webTags(tag('team', 'ops')) })], { tagged: [] }),
    expected: named('ownership'),
  },
  'tagged, but its tags lack imsync-key: drift ownership': {
    state: WEB,
    seen: observations([asRecorded('web', web, { tags: [tag('team', 'web'), tag('imsync-attempt', web.attemptId)] })]),
    expected: named('ownership'),
  },
  'renamed to a name with "/" (a manifest cannot hold it): named in the drift, not written': {
    state: WEB,
    seen: observations([asRecorded('web', web, { name: 'web/base' })]),
    expected: named('name'),
  },
  'description with "<" (a manifest cannot hold it): named in the drift, not written': {
    state: WEB,
    seen: observations([asRecorded('web', web, { description: '<b>web</b>' })]),
    expected: named('description'),
  },
  'a tag value with a space (a manifest cannot hold it): named in the drift, not written': {
    state: WEB,
    seen: observations([asRecorded('web', web, { tags: webTags(tag('team', 'web ops')) })]),
    expected: named('tags'),
  },
  'an invalid name next to a valid description: both named, only the description written': {
    state: WEB,
    seen: observations([asRecorded('web', web, { name: 'web/base', description: 'edited' })]),
    expected: edited({ ...WEB_SPEC, description: 'edited' }, 'name', 'description'),
  },
  'everything edited at once: every field, in order': {
    state: WEB,
    seen: observations([
      asRecorded('web', web, { name: 'web2', description: 'd', firmware: 'uefi', tags: [tag('team', 'ops')] }),
    ]),
    expected: edited(
      { ...WEB_SPEC, name: 'web2', description: 'd', hw_firmware_type: 'uefi', image_tags: [tag('team', 'ops')] },
      'name',
      'description',
      'hw_firmware_type',
      'tags',
      'ownership',
    ),
  },
};

describe('refresh of recorded images', () => {
  it.each(Object.entries(recordedRows))('%s', (_name, row) => {
    const now = row.now ?? NOW;
    const manifests = Object.entries(row.state.images).map(([key, record]) => manifest(key, record.spec));
    const refreshed = refresh(row.state, manifests, row.seen, { ...OPTIONS, now });
    expect(refreshed.unadopted).toEqual([]);
    switch (row.expected.change) {
      case 'none':
        expect(refreshed.changes).toEqual(new Map());
        expect(refreshed.drift).toEqual(new Map());
        return;
      case 'named':
        expect(refreshed.changes).toEqual(new Map());
        expect(refreshed.drift).toEqual(new Map([['web', row.expected.drift]]));
        return;
      case 'removed':
        expect(refreshed.changes).toEqual(new Map([['web', null]]));
        expect(refreshed.drift).toEqual(new Map([['web', row.expected.drift]]));
        return;
      case 'record': {
        const before = row.state.images.web as SucceededRecord;
        const after = refreshed.changes.get('web');
        expect([...refreshed.changes.keys()]).toEqual(['web']);
        expect(after?.spec).toEqual(row.expected.spec);
        expect(after).toMatchObject({
          phase: 'succeeded',
          imageId: before.imageId,
          attemptId: before.attemptId,
          createdAt: before.createdAt,
          updatedAt: now.toISOString(),
        });
        expect(after?.region).toBe(before.region);
        // The hash follows the spec: a plan compares it with the manifest's.
        const rehashed = imported(emptyState(), 'web', row.expected.spec).images.web!.specHash;
        expect(after?.specHash).toBe(rehashed);
        expect(refreshed.drift).toEqual(new Map([['web', row.expected.drift]]));
      }
    }
  });

  it('leaves imports in flight and failed ones to the executor, whatever is seen of them', () => {
    const spec = systemSpec('x');
    let state = submitting(emptyState(), 'sending', spec);
    state = submitted(state, 'running', spec);
    const sending = state.images.sending!;
    state = set(
      state,
      'found',
      foundRecord(intentRecord(undefined, { spec, attemptId: 'attempt-found' }, at), 'img-found', at),
    );
    state = failed(state, 'failed', spec, { code: 'IMG.0010', reason: 'the object does not exist' });
    const failedWithImage = failedRecord(
      { ...(state.images.running as SucceededRecord), imageId: 'img-failed' },
      { code: 'JOB_FAILED', reason: 'x' },
      at,
    );
    state = set(state, 'failed-image', failedWithImage);
    const manifests = Object.keys(state.images).map((key) => manifest(key, spec));
    const gone = ['img-found', 'img-failed'];
    const shown = [
      { id: 'img-found', name: 'renamed', status: 'killed', tags: ownershipTags('found', 'attempt-found') },
      { id: 'img-failed', name: 'renamed', status: 'deleted', tags: ownershipTags('failed-image', 'a') },
    ];
    for (const seen of [observations([], { absent: gone }), observations(shown, { tagged: [] }), observations(shown)]) {
      const refreshed = refresh(state, manifests, seen, OPTIONS);
      expect(refreshed).toEqual({ changes: new Map(), drift: new Map(), unadopted: [] });
    }
    expect(sending.phase).toBe('submitting');
  });

  it('keeps the other records as they are when one is edited', () => {
    const state = imported(WEB, 'api', systemSpec('api'));
    const api = state.images.api as SucceededRecord;
    const seen = observations([asRecorded('web', web, { name: 'web2' }), asRecorded('api', api)]);
    const refreshed = refresh(state, [manifest('web', WEB_SPEC), manifest('api', api.spec)], seen, OPTIONS);
    expect([...refreshed.changes.keys()]).toEqual(['web']);
    expect([...refreshed.drift.keys()]).toEqual(['web']);
  });
});

// Adoption: images carrying imsync-key (per the tag API) that no record holds.
const DESIRED = systemSpec('web', { description: 'desired', image_tags: [tag('team', 'web')] });

function found(id: string, key: string, overrides: Partial<ObservedImage> = {}): ObservedImage {
  return {
    id,
    name: 'web-found',
    status: 'active',
    description: 'found',
    tags: [tag('team', 'ops'), ...ownershipTags(key, `attempt-${id}`)],
    ...overrides,
  };
}

interface AdoptionRow {
  readonly state?: State;
  readonly manifests: readonly Manifest[];
  readonly seen: Observations;
  readonly options?: RefreshOptions;
  /** Records expected to be adopted, by key (fields to match; undefined: absent); no other key is adopted. */
  readonly adopted?: Readonly<Record<string, Record<string, unknown>>>;
  /** Recorded keys whose record this refresh removes. */
  readonly removed?: readonly string[];
  readonly unadopted?: Refreshed['unadopted'];
}

const ADOPTED_SPEC = { ...DESIRED, name: 'web-found', description: 'found', image_tags: [tag('team', 'ops')] };
const REPLACING = imported(
  imported(emptyState(), 'old', systemSpec('old')),
  'old',
  systemSpec('old', { min_disk: 80 }),
  undefined,
  'img-new',
);

const adoptionRows: Record<string, AdoptionRow> = {
  'active, its key has a manifest and no record: adopted as succeeded with what was seen': {
    manifests: [manifest('web', DESIRED, 'cn-north-4')],
    seen: observations([found('img-x', 'web')]),
    options: { ...OPTIONS, region: 'cn-north-4' },
    adopted: {
      web: {
        phase: 'succeeded',
        imageId: 'img-x',
        attemptId: 'attempt-img-x',
        region: 'cn-north-4',
        spec: ADOPTED_SPEC,
        createdAt: NOW.toISOString(),
        updatedAt: NOW.toISOString(),
      },
    },
  },
  'the manifest names no region: the default region': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web')]),
    adopted: { web: { phase: 'succeeded', imageId: 'img-x', region: 'ap-southeast-1' } },
  },
  'no region anywhere: none recorded': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web')]),
    options: { now: NOW, graceMs: GRACE_MS },
    adopted: { web: { phase: 'succeeded', imageId: 'img-x', region: undefined } },
  },
  "its manifest is for another region: unadopted (an image found here is not that region's)": {
    manifests: [manifest('web', DESIRED, 'cn-north-4')],
    seen: observations([found('img-x', 'web')]),
    unadopted: [{ key: 'web', imageId: 'img-x', why: 'its manifest is for region cn-north-4' }],
  },
  'still saving: adopted as submitted with its image id, to follow': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web', { status: 'saving' })]),
    adopted: {
      web: { phase: 'submitted', imageId: 'img-x', jobId: undefined, attemptId: 'attempt-img-x', spec: ADOPTED_SPEC },
    },
  },
  'queued: adopted as submitted': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web', { status: 'queued' })]),
    adopted: { web: { phase: 'submitted', imageId: 'img-x' } },
  },
  'no attempt tag: an attempt id made from the image id': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web', { tags: [tag('imsync-key', 'web')] })]),
    adopted: { web: { phase: 'succeeded', attemptId: 'adopted-imgx', spec: { ...ADOPTED_SPEC, image_tags: [] } } },
  },
  'seen values a manifest cannot hold: the manifest keeps its own': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web', { name: 'web/found', description: '<x>' })]),
    adopted: { web: { phase: 'succeeded', spec: { ...DESIRED, image_tags: [tag('team', 'ops')] } } },
  },
  'a data image: adopted with its own spec shape': {
    manifests: [manifest('disk', dataSpec('disk'))],
    seen: observations([undescribed(found('img-d', 'disk', { tags: ownershipTags('disk', 'a-1') }))]),
    adopted: { disk: { phase: 'succeeded', attemptId: 'a-1', spec: { ...dataSpec('disk'), name: 'web-found' } } },
  },
  'killed: not adopted, not reported': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web', { status: 'killed' })]),
  },
  'deleted: not adopted, not reported': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web', { status: 'deleted' })]),
  },
  'carrying the key in a list, but not in the tag API answer: not adopted': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web')], { tagged: [] }),
  },
  'its key has no manifest: unadopted': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'stray')]),
    unadopted: [{ key: 'stray', imageId: 'img-x', why: 'no manifest has this key' }],
  },
  'its key already has a record: unadopted, naming the recorded image': {
    state: WEB,
    manifests: [manifest('web', WEB_SPEC)],
    seen: observations([asRecorded('web', web, { firmware: 'bios' }), found('img-x', 'web')]),
    unadopted: [{ key: 'web', imageId: 'img-x', why: 'the key already has a record (image-web)' }],
  },
  'its key has a record in flight: unadopted': {
    state: submitting(emptyState(), 'web', DESIRED),
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-x', 'web')]),
    unadopted: [{ key: 'web', imageId: 'img-x', why: 'the key already has a record (no image)' }],
  },
  'its key lost its record in this refresh (deleted): unadopted, not adopted behind the deletion': {
    state: WEB,
    manifests: [manifest('web', WEB_SPEC)],
    seen: observations([found('img-x', 'web')], { absent: ['image-web'] }),
    removed: ['web'],
    unadopted: [{ key: 'web', imageId: 'img-x', why: 'the key already has a record (image-web)' }],
  },
  'two images for one key with no record: the first by id adopted, the other unadopted': {
    manifests: [manifest('web', DESIRED)],
    seen: observations([found('img-b', 'web'), found('img-a', 'web')]),
    adopted: { web: { phase: 'succeeded', imageId: 'img-a' } },
    unadopted: [{ key: 'web', imageId: 'img-b', why: 'the key already has a record (no image)' }],
  },
  'recorded under another key by its image id: never adopted': {
    state: WEB,
    manifests: [manifest('web', WEB_SPEC), manifest('other', DESIRED)],
    seen: observations([
      asRecorded('other', web, { firmware: 'bios', tags: [tag('team', 'web'), ...ownershipTags('other', 'a')] }),
    ]),
  },
  'recorded under another key as the image a replacement supersedes: never adopted': {
    state: REPLACING,
    manifests: [manifest('old', systemSpec('old', { min_disk: 80 })), manifest('web', DESIRED)],
    seen: observations([
      asRecorded('old', REPLACING.images.old!),
      { id: 'image-old', name: 'old', status: 'active', tags: ownershipTags('web', 'attempt-old') },
    ]),
  },
};

describe('refresh adoption', () => {
  it.each(Object.entries(adoptionRows))('%s', (_name, row) => {
    const state = row.state ?? emptyState();
    const refreshed = refresh(state, row.manifests, row.seen, row.options ?? OPTIONS);
    const adopted = row.adopted ?? {};
    // Recorded keys are the other table's business; here: which keys were adopted, and how.
    const newKeys = [...refreshed.changes.keys()].filter((key) => state.images[key] === undefined);
    expect(newKeys.sort()).toEqual(Object.keys(adopted).sort());
    const adoptedKeys = [...refreshed.drift].filter(([, drift]) => drift.kind === 'adopted').map(([key]) => key);
    expect(adoptedKeys.sort()).toEqual(Object.keys(adopted).sort());
    for (const key of row.removed ?? []) expect(refreshed.changes.get(key)).toBeNull();
    for (const [key, fields] of Object.entries(adopted)) {
      const record = refreshed.changes.get(key);
      expect(record).toMatchObject(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)));
      for (const [field, value] of Object.entries(fields))
        if (value === undefined) expect(record).not.toHaveProperty(field);
      expect(refreshed.drift.get(key)).toEqual({ kind: 'adopted', imageId: record!.imageId });
    }
    expect(refreshed.unadopted).toEqual(row.unadopted ?? []);
  });
});

// Every recorded image shown exactly as recorded: refresh finds nothing to say.
const key = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const userTag = fc.record({
  key: fc.constantFrom('team', 'tier', 'env', 'cost-centre'),
  value: fc.constantFrom('a', 'b.c', ''),
});
const arbitrarySpec = fc
  .record({
    data: fc.boolean(),
    description: fc.option(fc.constantFrom('', 'a', 'the web tier'), { nil: undefined }),
    architecture: fc.option(fc.constantFrom('x86' as const, 'arm' as const), { nil: undefined }),
    firmware: fc.option(fc.constantFrom('bios' as const, 'uefi' as const), { nil: undefined }),
    tags: fc.uniqueArray(userTag, { selector: (t) => t.key, maxLength: 4 }),
    oldForm: fc.boolean(),
    minDisk: fc.integer({ min: 1, max: 1024 }),
  })
  .map((f) => (name: string): ImageSpec => {
    const tags = f.oldForm
      ? { tags: f.tags.map((t) => (t.value === '' ? t.key : `${t.key}.${t.value}`)) }
      : { image_tags: f.tags };
    const description = f.description === undefined ? {} : { description: f.description };
    if (f.data) return dataSpec(name, { ...description, ...tags, min_disk: f.minDisk });
    const firmware = f.architecture === 'arm' ? 'uefi' : f.firmware;
    return systemSpec(name, {
      ...description,
      ...tags,
      min_disk: f.minDisk,
      ...(f.architecture === undefined ? {} : { architecture: f.architecture }),
      ...(firmware === undefined ? {} : { hw_firmware_type: firmware }),
    });
  });
const entry = fc.record({
  key,
  spec: arbitrarySpec,
  replaced: fc.boolean(),
  region: fc.option(fc.constantFrom('ap-southeast-1', 'cn-north-4'), { nil: undefined }),
  /** How the listing shows what the spec leaves unsaid. */
  describesEmpty: fc.boolean(),
  firmwareSeen: fc.option(fc.constantFrom('bios', 'uefi'), { nil: undefined }),
  tagOrder: fc.nat(),
});

describe('refresh properties', () => {
  it('finds no change and no drift when every recorded image is seen as recorded', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { selector: (e) => e.key, maxLength: 8 }),
        fc.integer({ min: 0, max: 2 * GRACE_MS }),
        (entries, elapsed) => {
          let state = emptyState();
          const images: ObservedImage[] = [];
          for (const e of entries) {
            const spec = e.spec(`image-${e.key}`);
            if (e.replaced) {
              // The superseded image is still there, carrying the same key: never adopted.
              state = imported(state, e.key, systemSpec(`old-${e.key}`), e.region, `old-${e.key}`);
              images.push(asRecorded(e.key, state.images[e.key]!));
            }
            state = imported(state, e.key, spec, e.region, `id-${e.key}`);
            const record = state.images[e.key]!;
            const shown = asRecorded(e.key, record);
            const tags = shown.tags!;
            const rotated = [...tags.slice(e.tagOrder % tags.length), ...tags.slice(0, e.tagOrder % tags.length)];
            const firmware =
              record.spec.type !== 'DataImage'
                ? (record.spec.hw_firmware_type ?? (record.spec.architecture === 'arm' ? 'uefi' : e.firmwareSeen))
                : e.firmwareSeen;
            images.push({
              ...shown,
              tags: rotated,
              ...(shown.description === undefined && e.describesEmpty ? { description: '' } : {}),
              ...(firmware === undefined ? {} : { firmware }),
            });
          }
          const manifests = entries.map((e) => manifest(e.key, state.images[e.key]!.spec, e.region));
          const now = new Date(at.getTime() + elapsed);
          const refreshed = refresh(state, manifests, observations(images), { ...OPTIONS, now });
          expect(refreshed.changes).toEqual(new Map());
          expect(refreshed.drift).toEqual(new Map());
          expect(refreshed.unadopted).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
