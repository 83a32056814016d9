// The saved plan's wire form: what `plan --out` writes, `apply --plan` reads back as the same
// decisions, and every written plan is valid against schemas/plan.schema.json; a saved plan that
// is not one, or was changed after it was written, is refused with a PlanFileError that names the
// file and says what is wrong.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateAgainst } from '../../src/manifest/schema.js';
import type { ImageSpec, Manifest } from '../../src/manifest/types.js';
import { decodePlan, encodePlan, PlanFileError } from '../../src/plan/codec.js';
import {
  planChanges,
  type Plan,
  type PlanOptions,
  type PreflightCode,
  type PreflightReport,
} from '../../src/plan/plan.js';
import type { Drift, Refreshed } from '../../src/refresh/refresh.js';
import {
  adoptedRecord,
  emptyState,
  foundRecord,
  intentRecord,
  updatedRecord,
  type ImageRecord,
  type State,
  type SucceededRecord,
} from '../../src/state/model.js';
import { dataSpec, manifest, systemSpec } from '../support/specs.js';
import { at, failed, imageFile, imported, sourced, submitted, submitting } from '../support/states.js';

const PATH = 'plans/saved.json';

function roundTrip(plan: Plan): Plan {
  return decodePlan(JSON.stringify(encodePlan(plan)), PATH);
}

/**
 * The plan as the wire carries it: JSON has no undefined, so a change's missing before or after
 * (a field the spec did not state) reads back as null; the renderer shows both as (none).
 */
function asWired(plan: Plan): Plan {
  const entries = plan.entries.map((entry) =>
    'changes' in entry
      ? {
          ...entry,
          changes: entry.changes.map((change) => ({
            ...change,
            before: change.before ?? null,
            after: change.after ?? null,
          })),
        }
      : entry,
  );
  return { ...plan, entries };
}

function schemaErrors(plan: Plan) {
  return validateAgainst('plan', JSON.parse(JSON.stringify(encodePlan(plan))));
}

// Generators in the spirit of test/plan/plan.test.ts, with valid specs (the schema checks them).
const key = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const specOverrides = fc.record(
  {
    description: fc.constantFrom('a', 'b', ''),
    min_disk: fc.integer({ min: 1, max: 1024 }),
    architecture: fc.constantFrom('x86' as const, 'arm' as const),
    image_tags: fc.uniqueArray(
      fc.record({ key: fc.constantFrom('team', 'tier', 'env'), value: fc.constantFrom('a', 'b') }),
      { selector: (tag) => tag.key, maxLength: 3 },
    ),
    os_version: fc.constantFrom('Ubuntu 22.04 server 64bit', 'CentOS 7.9 64bit'),
  },
  { requiredKeys: [] },
);
const arbitraryManifest = fc
  .tuple(
    key,
    specOverrides,
    fc.boolean(),
    fc.option(fc.constantFrom('cn-north-4', 'ap-southeast-1'), { nil: undefined }),
  )
  .map(([name, overrides, data, region]) =>
    manifest(
      name,
      data
        ? dataSpec(name, { ...(overrides.description === undefined ? {} : { description: overrides.description }) })
        : systemSpec(name, overrides),
      region,
    ),
  );

/** What the state holds for a key, and what a refresh found of it. */
const RECORDS = ['none', 'same', 'other', 'moved', 'submitting', 'submitted', 'failed', 'replacing'] as const;
const DRIFTS = ['none', 'deleted', 'edited', 'ownership', 'adopted', 'adopted-running', 'unadopted'] as const;
type Picked = { record: (typeof RECORDS)[number]; drift: (typeof DRIFTS)[number] };
const pick = fc.record({ record: fc.constantFrom(...RECORDS), drift: fc.constantFrom(...DRIFTS) });

function recordFor(state: State, key: string, spec: ImageSpec, picked: Picked['record']): State {
  switch (picked) {
    case 'none':
      return state;
    case 'same':
      return imported(state, key, spec, undefined, `img-${key}`);
    case 'other':
      return imported(state, key, systemSpec(key, { description: 'recorded' }), 'cn-north-4', `img-${key}`);
    case 'moved':
      return imported(state, key, systemSpec(key, { min_disk: 1000 }), undefined, `img-${key}`);
    case 'submitting':
      return submitting(state, key, spec);
    case 'submitted':
      return submitted(state, key, spec);
    case 'failed':
      return failed(state, key, spec, { code: 'IMG.0057', reason: 'the OBS object is archived' });
    case 'replacing':
      return imported(imported(state, key, systemSpec(key)), key, spec, undefined, `img-${key}-2`);
  }
}

/** A refresh that found what `picked` says, where it fits the record. */
function refreshFor(state: State, manifests: readonly Manifest[], picks: readonly Picked[]): Refreshed {
  const changes = new Map<string, ImageRecord | null>();
  const drift = new Map<string, Drift>();
  const unadopted: { key: string; imageId: string; why: string }[] = [];
  manifests.forEach((m, i) => {
    const k = m.metadata.name;
    const record = state.images[k];
    const found = picks[i % picks.length]!.drift;
    if (record?.phase === 'succeeded' && found === 'deleted') {
      changes.set(k, null);
      drift.set(k, { kind: 'deleted', imageId: record.imageId });
    } else if (record?.phase === 'succeeded' && (found === 'edited' || found === 'ownership')) {
      changes.set(k, updatedRecord(record, { ...record.spec, name: `renamed-${k}` }, at));
      drift.set(k, { kind: 'edited', imageId: record.imageId, fields: found === 'edited' ? ['name'] : ['ownership'] });
    } else if (record === undefined && found === 'adopted') {
      changes.set(k, adoptedRecord({ imageId: `found-${k}`, attemptId: `a-${k}`, spec: m.spec, at }));
      drift.set(k, { kind: 'adopted', imageId: `found-${k}` });
    } else if (record === undefined && found === 'adopted-running') {
      const intent = intentRecord(undefined, { spec: m.spec, attemptId: `a-${k}`, region: 'cn-north-4' }, at);
      changes.set(k, foundRecord(intent, `found-${k}`, at));
      drift.set(k, { kind: 'adopted', imageId: `found-${k}` });
    } else if (found === 'unadopted') {
      unadopted.push({ key: k, imageId: `stray-${k}`, why: 'the key already has a record (no image)' });
    }
  });
  return { changes, drift, unadopted };
}

const scenario = fc
  .record({
    manifests: fc.uniqueArray(arbitraryManifest, { selector: (m) => m.metadata.name, maxLength: 10 }),
    picks: fc.array(pick, { minLength: 1, maxLength: 10 }),
    orphans: fc.array(fc.constantFrom('same', 'submitting', 'submitted', 'failed') as fc.Arbitrary<Picked['record']>, {
      maxLength: 3,
    }),
    policy: fc.record(
      { allowReplace: fc.boolean(), prune: fc.boolean(), retryFailed: fc.boolean() },
      { requiredKeys: [] },
    ),
    refreshed: fc.boolean(),
    defaultRegion: fc.option(fc.constant('ap-southeast-1'), { nil: undefined }),
    lineage: fc.uuid(),
    serial: fc.nat({ max: 10_000 }),
  })
  .map((s) => {
    let state: State = { ...emptyState(), lineage: s.lineage, serial: s.serial };
    s.manifests.forEach((m, i) => {
      state = recordFor(state, m.metadata.name, m.spec, s.picks[i % s.picks.length]!.record);
    });
    s.orphans.forEach((record, i) => {
      const k = `orphan-${i}`;
      if (!s.manifests.some((m) => m.metadata.name === k)) state = recordFor(state, k, systemSpec(k), record);
    });
    const options: PlanOptions = {
      policy: s.policy,
      ...(s.defaultRegion === undefined ? {} : { defaultRegion: s.defaultRegion }),
      ...(s.refreshed ? { refresh: refreshFor(state, s.manifests, s.picks) } : {}),
    };
    return planChanges(s.manifests, state, options);
  });

describe('plan codec round trip', () => {
  it('reads back every generated plan as the plan it wrote, and the plan it wrote is valid', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(scenario, (plan) => {
        for (const entry of plan.entries) seen.add(entry.action);
        expect(schemaErrors(plan)).toEqual([]);
        expect(roundTrip(plan)).toEqual(asWired(plan));
      }),
      { numRuns: 300 },
    );
    // The generators reach every action (a check on the generators, not on the codec).
    expect([...seen].sort()).toEqual(
      [
        'adopt',
        'delete',
        'finish-replace',
        'follow',
        'hold-failed',
        'import',
        'keep-orphan',
        'none',
        'replace',
        'replace-blocked',
        'retry',
        'settle',
        'update',
      ].sort(),
    );
  });

  it('reads back a decoded plan unchanged: decoding is a fixed point', () => {
    fc.assert(
      fc.property(scenario, (plan) => {
        const once = roundTrip(plan);
        expect(roundTrip(once)).toEqual(once);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps what the refresh found, the basis and the policy', () => {
    const state = {
      ...imported(imported(emptyState(), 'gone', systemSpec('gone')), 'kept', systemSpec('kept')),
      lineage: 'l-1',
      serial: 4,
    };
    const renamed = updatedRecord(state.images.kept as SucceededRecord, systemSpec('kept', { name: 'kept-2' }), at);
    const plan = planChanges([manifest('gone'), manifest('kept'), manifest('new')], state, {
      policy: { prune: true, retryFailed: false },
      refresh: {
        changes: new Map<string, ImageRecord | null>([
          ['gone', null],
          ['kept', renamed],
          ['new', adoptedRecord({ imageId: 'img-new', attemptId: 'a-new', spec: systemSpec('new'), at })],
        ]),
        drift: new Map<string, Drift>([
          ['gone', { kind: 'deleted', imageId: 'image-gone' }],
          ['kept', { kind: 'edited', imageId: 'image-kept', fields: ['name', 'ownership'] }],
          ['new', { kind: 'adopted', imageId: 'img-new' }],
        ]),
        unadopted: [{ key: 'stray', imageId: 'img-stray', why: 'no manifest has this key' }],
      },
    });
    const back = roundTrip(plan);
    expect(back.basis).toEqual({ lineage: 'l-1', serial: 4 });
    expect(back.policy).toEqual({ allowReplace: false, prune: true, retryFailed: false });
    expect(back.refresh.changes).toEqual(plan.refresh.changes);
    expect(back.refresh.changes.get('gone')).toBeNull();
    expect(back.refresh.drift).toEqual(plan.refresh.drift);
    expect(back.refresh.unadopted).toEqual(plan.refresh.unadopted);
    expect(back.entries.map((entry) => [entry.key, entry.action])).toEqual([
      ['gone', 'import'],
      ['kept', 'update'],
      ['new', 'adopt'],
    ]);
    expect(back).toEqual(asWired(plan));
    const document = encodePlan(plan) as { summary: Record<string, number> };
    expect(document.summary).toMatchObject({ import: 1, update: 1, adopt: 1, none: 0 });
  });
});

/** What the pre-flight found of a plan's files: one problem, one warning. */
const preflightReport: PreflightReport = {
  files: 3,
  cached: 1,
  requests: 4,
  problems: [
    {
      code: 'OBJECT_MISSING',
      key: 'c',
      file: 'golden-images:c.zvhd2',
      reason: 'golden-images:c.zvhd2 does not exist in OBS (404 NoSuchKey)',
    },
  ],
  warnings: [{ code: 'QUOTA', reason: '3 of 100 private images are left in the quota' }],
};

describe("plan codec: the pre-flight's report", () => {
  it('reads back the report and the sources of the records an entry embeds', () => {
    const state = sourced(imported(emptyState(), 'a', systemSpec('a')), 'b', systemSpec('b'));
    const plan = planChanges([manifest('a'), manifest('b'), manifest('c')], state);
    expect(plan.entries.find((entry) => entry.key === 'b')).toMatchObject({ recorded: { source: imageFile } });
    for (const preflight of [preflightReport, { ...preflightReport, skipped: 'token authentication', files: 0 }]) {
      const withReport = { ...plan, preflight };
      expect(schemaErrors(withReport)).toEqual([]);
      expect(roundTrip(withReport)).toEqual(asWired(withReport));
    }
    expect('preflight' in roundTrip(plan)).toBe(false);
  });

  it('writes the fields of the report and of its problems, and nothing else they carry', () => {
    const problem = { ...preflightReport.problems[0]!, status: 404 };
    const document = encodePlan({
      ...planChanges([], emptyState()),
      preflight: { ...preflightReport, problems: [problem], took: 12 } as PreflightReport,
    }) as { preflight: object };
    expect(document.preflight).toEqual(preflightReport);
  });

  it('names in its schema exactly the codes a problem has', () => {
    // Every code once: the compiler refuses a missing or unknown one.
    const codes: Record<PreflightCode, true> = {
      FORMAT: true,
      BUCKET_MISSING: true,
      BUCKET_REGION: true,
      BUCKET_CLASS: true,
      OBJECT_MISSING: true,
      OBJECT_EMPTY: true,
      OBJECT_TOO_BIG: true,
      OBJECT_CLASS: true,
      OBJECT_ENCRYPTION: true,
      BITMAP_MISSING: true,
      ACCESS_DENIED: true,
      UNCHECKED: true,
      QUOTA: true,
      SOURCE_CHANGED: true,
    };
    const schema = JSON.parse(readFileSync(new URL('../../schemas/plan.schema.json', import.meta.url), 'utf8')) as {
      definitions: { problem: { properties: { code: { enum: string[] } } } };
    };
    expect([...schema.definitions.problem.properties.code.enum].sort()).toEqual(Object.keys(codes).sort());
  });
});

// A saved plan to break, one way per row.
function savedPlan(): Record<string, unknown> {
  let state = imported(emptyState(), 'a', systemSpec('a'));
  state = submitted(state, 'b', systemSpec('b'));
  state = imported(state, 'd', systemSpec('d'));
  const renamed = updatedRecord(state.images.d as SucceededRecord, systemSpec('d', { name: 'd-2' }), at);
  const plan = planChanges(
    [manifest('a', systemSpec('a', { description: 'new' })), manifest('b'), manifest('c'), manifest('d')],
    state,
    {
      refresh: {
        changes: new Map([['d', renamed]]),
        drift: new Map([['d', { kind: 'edited', imageId: 'image-d', fields: ['name'] } as const]]),
        unadopted: [],
      },
    },
  );
  expect(plan.entries.map((entry) => entry.action)).toEqual(['update', 'follow', 'import', 'update']);
  return JSON.parse(JSON.stringify(encodePlan({ ...plan, preflight: preflightReport }))) as Record<string, unknown>;
}

/** The parts of a saved plan the rows below break. */
interface SavedRecord {
  phase: string;
  imageId?: string;
  source?: unknown;
}
interface SavedEntry {
  action: string;
  recorded: SavedRecord | null;
  manifest?: { spec: { min_disk: number; image_url: string } };
  changes?: unknown[];
}
interface SavedProblem {
  code: string;
  key?: string;
  reason?: string;
}
interface SavedPlan {
  entries: SavedEntry[];
  refresh: { records: Record<string, SavedRecord> };
  preflight: { requests: number; problems?: SavedProblem[]; warnings: SavedProblem[]; [field: string]: unknown };
  [field: string]: unknown;
}

/** JSON with every object's keys sorted and no spaces: what the checksum is taken of. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const fields = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${fields.map(([name, field]) => `${JSON.stringify(name)}:${canonical(field)}`).join(',')}}`;
}

/** The plan as a writer would have written it: its checksum taken again, as README describes it. */
function sealed(plan: Record<string, unknown>): string {
  const { checksum, ...rest } = plan;
  return JSON.stringify({ ...rest, checksum: `sha256:${createHash('sha256').update(canonical(rest)).digest('hex')}` });
}

const broken: Record<string, { text: () => string; why: RegExp }> = {
  'not JSON': { text: () => '{"type": "plan", "format_version": ', why: /not a plan file \(not JSON\)/ },
  'JSON, but null': { text: () => 'null', why: /plan format missing, expected "3"/ },
  'format_version "1"': {
    text: () => JSON.stringify({ ...savedPlan(), format_version: '1' }),
    why: /plan format "1", expected "3"/,
  },
  'format_version "2", written before plans had a checksum': {
    text: () => {
      const { checksum, ...rest } = savedPlan();
      return JSON.stringify({ ...rest, format_version: '2' });
    },
    why: /plan format "2" is from an earlier imsync and has no checksum to show it unchanged/,
  },
  'format_version missing': {
    text: () => {
      const { format_version, ...rest } = savedPlan();
      return JSON.stringify(rest);
    },
    why: /plan format missing, expected "3"/,
  },
  'format_version as a number': {
    text: () => JSON.stringify({ ...savedPlan(), format_version: 3 }),
    why: /plan format 3, expected "3"/,
  },
  'the checksum missing': {
    text: () => {
      const { checksum, ...rest } = savedPlan();
      return JSON.stringify(rest);
    },
    why: /not a valid plan: the document is missing "checksum"/,
  },
  'an image_url changed after the plan was written': {
    text: () => {
      const plan = savedPlan() as SavedPlan;
      plan.entries[2]!.manifest!.spec.image_url = 'golden-images:other.zvhd2';
      return JSON.stringify(plan);
    },
    why: /the plan was changed after it was written \(its checksum does not match\)/,
  },
  'the policy changed after the plan was written': {
    text: () => JSON.stringify({ ...savedPlan(), policy: { allow_replace: true, prune: true, retry_failed: true } }),
    why: /the plan was changed after it was written/,
  },
  'an entry left out after the plan was written': {
    text: () => {
      const plan = savedPlan() as SavedPlan;
      plan.entries.pop();
      return JSON.stringify(plan);
    },
    why: /the plan was changed after it was written/,
  },
  'the same key twice': {
    text: () => edit((_, entries) => entries.push(entries[2]!)),
    why: /entries 2 and 4 are both for key "c"; a plan decides once for each key/,
  },
  'an unknown action': {
    text: () => edit((_, [a]) => (a!.action = 'explode')),
    why: /not a valid plan: entries\[0\]\.action must be one of import, .*keep-orphan; got "explode"/,
  },
  'a follow whose recorded is succeeded': {
    text: () => edit((_, [a, b]) => (b!.recorded = a!.recorded)),
    why: /entry 1 \(b\): a follow without the manifest or record it needs/,
  },
  'an update without changes': {
    text: () => edit((_, [a]) => delete a!.changes),
    why: /entry 0 \(a\): a update without the manifest or record it needs/,
  },
  'an import without manifest': {
    text: () => edit((_, [, , c]) => delete c!.manifest),
    why: /entry 2 \(c\): a import without the manifest or record it needs/,
  },
  'a none whose record is in flight': {
    text: () => edit((_, [a, b]) => Object.assign(b!, { action: 'none', manifest: a!.manifest })),
    why: /entry 1 \(b\): a none without the manifest or record it needs/,
  },
  'an entry record with phase succeeded but no imageId': {
    text: () => edit((_, [a]) => delete a!.recorded!.imageId),
    why: /not a valid plan: entries\[0\]\.recorded is missing "imageId"/,
  },
  'a refreshed record with phase succeeded but no imageId': {
    text: () => edit((plan) => delete plan.refresh.records.d!.imageId),
    why: /not a valid plan: refresh\.records\.d is missing "imageId"/,
  },
  'a record with an unknown phase': {
    text: () => edit((_, [a]) => (a!.recorded!.phase = 'done')),
    why: /not a valid plan: entries\[0\]\.recorded\.phase must be one of submitting, submitted, succeeded, failed; got "done"/,
  },
  'a manifest spec with min_disk 0': {
    text: () => edit((_, [a]) => (a!.manifest!.spec.min_disk = 0)),
    why: /not a valid plan: entries\[0\]\.manifest\.spec\.min_disk is 0, out of range/,
  },
  "the pre-flight's problems left out after the plan was written": {
    text: () => {
      const plan = savedPlan() as SavedPlan;
      plan.preflight.problems = [];
      return JSON.stringify(plan);
    },
    why: /the plan was changed after it was written/,
  },
  'a pre-flight problem with an unknown code': {
    text: () => edit((plan) => (plan.preflight.problems![0]!.code = 'OBJECT_GONE')),
    why: /not a valid plan: preflight\.problems\[0\]\.code must be one of FORMAT, BUCKET_MISSING, .*, SOURCE_CHANGED; got "OBJECT_GONE"/,
  },
  'a pre-flight problem for no manifest key': {
    text: () => edit((plan) => (plan.preflight.problems![0]!.key = 'Web Base')),
    why: /not a valid plan: preflight\.problems\[0\]\.key "Web Base" is not valid/,
  },
  'a pre-flight warning without its reason': {
    text: () => edit((plan) => delete plan.preflight.warnings[0]!.reason),
    why: /not a valid plan: preflight\.warnings\[0\] is missing "reason"/,
  },
  'a negative count of requests': {
    text: () => edit((plan) => (plan.preflight.requests = -1)),
    why: /not a valid plan: preflight\.requests is -1, out of range/,
  },
  'a pre-flight report without its problems': {
    text: () => edit((plan) => delete plan.preflight.problems),
    why: /not a valid plan: preflight is missing "problems"/,
  },
  'an unknown field in the pre-flight report': {
    text: () => edit((plan) => (plan.preflight.errors = [])),
    why: /not a valid plan: unknown field "preflight\.errors"/,
  },
  "an entry record's source of negative size": {
    text: () => edit((_, [a]) => (a!.recorded!.source = { etag: '"9b2c"', size: -1 })),
    why: /not a valid plan: entries\[0\]\.recorded\.source\.size is -1, out of range/,
  },
  "a refreshed record's source with an unquoted ETag": {
    text: () => edit((plan) => (plan.refresh.records.d!.source = { etag: '9b2c', size: 1 })),
    why: /not a valid plan: refresh\.records\.d\.source\.etag "9b2c" is not valid/,
  },
  'an extra unknown top-level field': {
    text: () => edit((plan) => (plan.approved_by = 'someone')),
    why: /not a valid plan: unknown field "approved_by"/,
  },
};

/** A saved plan with a mistake made by whatever wrote it (so its checksum fits). */
function edit(change: (plan: SavedPlan, entries: SavedEntry[]) => unknown): string {
  const plan = savedPlan() as SavedPlan;
  change(plan, plan.entries);
  return sealed(plan);
}

describe('decodePlan refuses a saved plan that is not one', () => {
  it('reads the unbroken saved plan, pretty-printed or not, its checksum as README describes it', () => {
    const plan = savedPlan();
    expect(decodePlan(JSON.stringify(plan), PATH).entries).toHaveLength(4);
    expect(decodePlan(JSON.stringify(plan, null, 2), PATH).entries).toHaveLength(4);
    expect(sealed(plan)).toBe(JSON.stringify(plan));
  });

  it.each(Object.entries(broken))('%s', (_name, row) => {
    const text = row.text();
    let thrown: unknown;
    try {
      decodePlan(text, PATH);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PlanFileError);
    const message = (thrown as PlanFileError).message;
    expect(message).toMatch(/^--plan plans\/saved\.json: /);
    expect(message).toMatch(row.why);
    expect(message).toMatch(/; make a new one with `imsync plan --out`$/);
  });
});
