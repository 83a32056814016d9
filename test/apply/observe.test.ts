// observe(): what one observation of an import in flight means, one row per branch. Pure, so no
// emulator and no clock: fixed dates, the grace measured from the record's last change.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isUnusableAnswer,
  observe,
  type Next,
  type Observation,
  type Outcome,
  type UnusableAnswers,
} from '../../src/apply/observe.js';
import { ImsError } from '../../src/ims/errors.js';
import type { Image, Job, JobStatus } from '../../src/ims/types.js';
import { validateAgainst } from '../../src/manifest/schema.js';
import {
  foundRecord,
  intentRecord,
  progressRecord,
  submittedRecord,
  succeededRecord,
  STATE_VERSION,
  type ImageRecord,
  type SubmittedRecord,
  type SubmittingRecord,
} from '../../src/state/model.js';
import { systemSpec } from '../support/specs.js';

const GRACE_MS = 60_000;
/** When the replaced image's record was made: kept as createdAt by every later record. */
const first = new Date('2026-11-20T08:00:00Z');
/** When the in-flight record was last changed; the grace runs from here. */
const sent = new Date('2026-11-26T10:00:00Z');
const after = (ms: number) => new Date(sent.getTime() + ms);
/** Well past the grace. */
const NOW = after(5 * 60_000);

const spec = systemSpec('web-base', { description: 'the web tier' });
const replaced = succeededRecord(
  submittedRecord(
    intentRecord(undefined, { spec: systemSpec('web-base'), attemptId: 'attempt-0', region: 'ap-southeast-1' }, first),
    'job-0',
    first,
  ),
  'img-old',
  first,
);
/** The POST's answer has not come: a replacement of img-old. */
const SENT: SubmittingRecord = intentRecord(replaced, { spec, attemptId: 'attempt-1', region: 'ap-southeast-1' }, sent);
/** The job id came back; the job was INIT when last seen. */
const RUNNING: SubmittedRecord = submittedRecord(SENT, 'job-1', sent);
const RUNNING_SEEN_RUNNING: SubmittedRecord = progressRecord(RUNNING, 'RUNNING', sent);
/** The job id and the image id both known (the job named its image before it ended). */
const RUNNING_WITH_IMAGE: SubmittedRecord = { ...RUNNING, imageId: 'img-1' };
/** The answer was lost; its image was found by the attempt tag, no job id. */
const FOUND: SubmittedRecord = foundRecord(SENT, 'img-1', sent);
const FOUND_SAVING: SubmittedRecord = progressRecord(FOUND, 'saving', sent);

function job(status: JobStatus, fields: Partial<Job> = {}): Observation {
  return { kind: 'job', job: { jobId: 'job-1', status, ...fields } };
}

function image(status: string, id = 'img-1'): Observation {
  return { kind: 'image', image: { id, name: 'web-base', status, tags: [] } };
}

const ABSENT: Observation = { kind: 'absent' };

interface Row {
  readonly record: SubmittingRecord | SubmittedRecord;
  readonly observation: Observation;
  readonly now?: Date;
  /** This run's answers to the key without a usable job id. */
  readonly unusable?: UnusableAnswers;
  /** The fields the new record must have; undefined: no new record. */
  readonly expected?: Partial<Record<keyof ImageRecord | 'jobStatus', unknown>>;
  /** Fields the new record must not carry. */
  readonly lacks?: readonly string[];
  readonly outcomes: readonly Outcome[];
  readonly next: Next;
}

const settledFound: Outcome = { type: 'import.settled', attemptId: 'attempt-1', found: true };
const killed = (status: string) => ({ code: 'IMAGE_KILLED', reason: `the image img-1 of this import ended ${status}` });

const rows: Record<string, Row> = {
  // A submission whose answer never came.
  'submitting, absent within the grace: unchanged, follow': {
    record: SENT,
    observation: ABSENT,
    now: after(GRACE_MS / 2),
    outcomes: [],
    next: 'follow',
  },
  'submitting, absent a millisecond before the grace ends: unchanged, follow': {
    record: SENT,
    observation: ABSENT,
    now: after(GRACE_MS - 1),
    outcomes: [],
    next: 'follow',
  },
  'submitting, absent once the grace is over: settled not found, resubmit': {
    record: SENT,
    observation: ABSENT,
    now: after(GRACE_MS),
    outcomes: [{ type: 'import.settled', attemptId: 'attempt-1', found: false }],
    next: 'resubmit',
  },
  'submitting, absent long after the grace: settled not found, resubmit': {
    record: SENT,
    observation: ABSENT,
    outcomes: [{ type: 'import.settled', attemptId: 'attempt-1', found: false }],
    next: 'resubmit',
  },
  'submitting, absent past the grace after three answers without a usable job id: failed, quoting the last': {
    record: SENT,
    observation: ABSENT,
    unusable: { count: 3, last: 'POST /v2/cloudimages/quickimport/action: the answer (200) is not JSON: <html>' },
    expected: {
      phase: 'failed',
      error: {
        code: 'IMPORT_ANSWER_UNUSABLE',
        reason:
          'IMS answered 3 imports with no usable job id, and none is found by its tag; the last answer: POST /v2/cloudimages/quickimport/action: the answer (200) is not JSON: <html>',
      },
    },
    lacks: ['jobId', 'imageId'],
    outcomes: [
      {
        type: 'import.failed',
        code: 'IMPORT_ANSWER_UNUSABLE',
        reason:
          'IMS answered 3 imports with no usable job id, and none is found by its tag; the last answer: POST /v2/cloudimages/quickimport/action: the answer (200) is not JSON: <html>',
      },
    ],
    next: 'done',
  },
  'submitting, image queued: found, progress': {
    record: SENT,
    observation: image('queued'),
    expected: { phase: 'submitted', imageId: 'img-1', jobStatus: 'queued' },
    lacks: ['jobId', 'error'],
    outcomes: [settledFound, { type: 'job.progress', status: 'queued' }],
    next: 'follow',
  },
  'submitting, image saving within the grace: found, progress': {
    record: SENT,
    observation: image('saving'),
    now: after(1),
    expected: { phase: 'submitted', imageId: 'img-1', jobStatus: 'saving' },
    lacks: ['jobId', 'error'],
    outcomes: [settledFound, { type: 'job.progress', status: 'saving' }],
    next: 'follow',
  },
  'submitting, image active: found, succeeded': {
    record: SENT,
    observation: image('active'),
    expected: { phase: 'succeeded', imageId: 'img-1' },
    lacks: ['jobId', 'jobStatus', 'error'],
    outcomes: [settledFound, { type: 'import.succeeded', imageId: 'img-1' }],
    next: 'done',
  },
  'submitting, image killed: found, then failed IMAGE_KILLED': {
    record: SENT,
    observation: image('killed'),
    expected: { phase: 'failed', imageId: 'img-1', error: killed('killed') },
    lacks: ['jobId', 'jobStatus'],
    outcomes: [settledFound, { type: 'import.failed', ...killed('killed') }],
    next: 'done',
  },
  'submitting, image deleted: found, then failed IMAGE_KILLED': {
    record: SENT,
    observation: image('deleted'),
    expected: { phase: 'failed', imageId: 'img-1', error: killed('deleted') },
    lacks: ['jobId', 'jobStatus'],
    outcomes: [settledFound, { type: 'import.failed', ...killed('deleted') }],
    next: 'done',
  },
  'submitting, its job running (a job id came back late): unchanged, follow': {
    record: SENT,
    observation: job('RUNNING'),
    outcomes: [],
    next: 'follow',
  },
  'submitting, its job SUCCESS with an image id: succeeded': {
    record: SENT,
    observation: job('SUCCESS', { imageId: 'img-1' }),
    expected: { phase: 'succeeded', imageId: 'img-1' },
    lacks: ['jobStatus', 'error'],
    outcomes: [{ type: 'import.succeeded', imageId: 'img-1' }],
    next: 'done',
  },
  'submitting, its job SUCCESS without an image id: find the image': {
    record: SENT,
    observation: job('SUCCESS'),
    outcomes: [],
    next: 'find-image',
  },
  'submitting, its job FAIL: failed': {
    record: SENT,
    observation: job('FAIL', { errorCode: 'IMG.0057', failReason: 'the OBS object is not in Standard storage' }),
    expected: { phase: 'failed', error: { code: 'IMG.0057', reason: 'the OBS object is not in Standard storage' } },
    lacks: ['imageId', 'jobStatus'],
    outcomes: [{ type: 'import.failed', code: 'IMG.0057', reason: 'the OBS object is not in Standard storage' }],
    next: 'done',
  },

  // Submitted, followed by its job.
  'job id, job INIT as last seen: no record, no outcome': {
    record: RUNNING,
    observation: job('INIT'),
    outcomes: [],
    next: 'follow',
  },
  'job id, job RUNNING after INIT: progress': {
    record: RUNNING,
    observation: job('RUNNING'),
    expected: { phase: 'submitted', jobId: 'job-1', jobStatus: 'RUNNING' },
    lacks: ['imageId', 'error'],
    outcomes: [{ type: 'job.progress', jobId: 'job-1', status: 'RUNNING' }],
    next: 'follow',
  },
  'job id, job RUNNING as last seen: no record, no outcome': {
    record: RUNNING_SEEN_RUNNING,
    observation: job('RUNNING'),
    outcomes: [],
    next: 'follow',
  },
  'job id, job INIT after RUNNING (a status change either way): progress': {
    record: RUNNING_SEEN_RUNNING,
    observation: job('INIT'),
    expected: { phase: 'submitted', jobId: 'job-1', jobStatus: 'INIT' },
    outcomes: [{ type: 'job.progress', jobId: 'job-1', status: 'INIT' }],
    next: 'follow',
  },
  'job id, job SUCCESS with an image id: succeeded': {
    record: RUNNING,
    observation: job('SUCCESS', { imageId: 'img-1' }),
    expected: { phase: 'succeeded', jobId: 'job-1', imageId: 'img-1' },
    lacks: ['jobStatus', 'error'],
    outcomes: [{ type: 'import.succeeded', jobId: 'job-1', imageId: 'img-1' }],
    next: 'done',
  },
  'job id, job SUCCESS without an image id: find the image': {
    record: RUNNING,
    observation: job('SUCCESS'),
    outcomes: [],
    next: 'find-image',
  },
  'job id and image id, job SUCCESS without an image id: succeeded with the recorded image': {
    record: RUNNING_WITH_IMAGE,
    observation: job('SUCCESS'),
    expected: { phase: 'succeeded', jobId: 'job-1', imageId: 'img-1' },
    outcomes: [{ type: 'import.succeeded', jobId: 'job-1', imageId: 'img-1' }],
    next: 'done',
  },
  'job id, job FAIL with error_code and fail_reason: failed with them': {
    record: RUNNING,
    observation: job('FAIL', { errorCode: 'IMG.0010', failReason: 'the object does not exist' }),
    expected: { phase: 'failed', jobId: 'job-1', error: { code: 'IMG.0010', reason: 'the object does not exist' } },
    lacks: ['imageId', 'jobStatus'],
    outcomes: [{ type: 'import.failed', jobId: 'job-1', code: 'IMG.0010', reason: 'the object does not exist' }],
    next: 'done',
  },
  'job id, job FAIL without error_code or fail_reason: failed JOB_FAILED': {
    record: RUNNING,
    observation: job('FAIL'),
    expected: { phase: 'failed', jobId: 'job-1', error: { code: 'JOB_FAILED', reason: 'the import job failed' } },
    lacks: ['imageId', 'jobStatus'],
    outcomes: [{ type: 'import.failed', jobId: 'job-1', code: 'JOB_FAILED', reason: 'the import job failed' }],
    next: 'done',
  },
  'job id, job FAIL with only an error_code: the default reason': {
    record: RUNNING,
    observation: job('FAIL', { errorCode: 'IMG.0058' }),
    expected: { phase: 'failed', error: { code: 'IMG.0058', reason: 'the import job failed' } },
    outcomes: [{ type: 'import.failed', jobId: 'job-1', code: 'IMG.0058', reason: 'the import job failed' }],
    next: 'done',
  },
  'job id and image id, job FAIL: failed, keeping the image id': {
    record: RUNNING_WITH_IMAGE,
    observation: job('FAIL', { failReason: 'checksum mismatch' }),
    expected: {
      phase: 'failed',
      jobId: 'job-1',
      imageId: 'img-1',
      error: { code: 'JOB_FAILED', reason: 'checksum mismatch' },
    },
    outcomes: [{ type: 'import.failed', jobId: 'job-1', code: 'JOB_FAILED', reason: 'checksum mismatch' }],
    next: 'done',
  },
  'job id, image saving (listed by its attempt): progress with the job id': {
    record: RUNNING,
    observation: image('saving'),
    expected: { phase: 'submitted', jobId: 'job-1', jobStatus: 'saving' },
    outcomes: [{ type: 'job.progress', jobId: 'job-1', status: 'saving' }],
    next: 'follow',
  },
  'job id, image active: succeeded': {
    record: RUNNING,
    observation: image('active'),
    expected: { phase: 'succeeded', jobId: 'job-1', imageId: 'img-1' },
    lacks: ['jobStatus', 'error'],
    outcomes: [{ type: 'import.succeeded', jobId: 'job-1', imageId: 'img-1' }],
    next: 'done',
  },
  'job id, image killed: ask the job why': {
    record: RUNNING,
    observation: image('killed'),
    outcomes: [],
    next: 'ask-job',
  },
  'job id, image deleted: ask the job why': {
    record: RUNNING,
    observation: image('deleted'),
    outcomes: [],
    next: 'ask-job',
  },
  'job id, absent: ask the job': {
    record: RUNNING,
    observation: ABSENT,
    outcomes: [],
    next: 'ask-job',
  },

  // Submitted, found by its attempt tag: no job to ask.
  'found by tag, image saving: progress without a job id': {
    record: FOUND,
    observation: image('saving'),
    expected: { phase: 'submitted', imageId: 'img-1', jobStatus: 'saving' },
    lacks: ['jobId', 'error'],
    outcomes: [{ type: 'job.progress', status: 'saving' }],
    next: 'follow',
  },
  'found by tag, image saving as last seen: no record, no outcome': {
    record: FOUND_SAVING,
    observation: image('saving'),
    outcomes: [],
    next: 'follow',
  },
  'found by tag, image active: succeeded': {
    record: FOUND,
    observation: image('active'),
    expected: { phase: 'succeeded', imageId: 'img-1' },
    lacks: ['jobId', 'jobStatus', 'error'],
    outcomes: [{ type: 'import.succeeded', imageId: 'img-1' }],
    next: 'done',
  },
  'found by tag, image killed: failed IMAGE_KILLED': {
    record: FOUND_SAVING,
    observation: image('killed'),
    expected: { phase: 'failed', imageId: 'img-1', error: killed('killed') },
    lacks: ['jobId', 'jobStatus'],
    outcomes: [{ type: 'import.failed', ...killed('killed') }],
    next: 'done',
  },
  'found by tag, image deleted: failed IMAGE_KILLED': {
    record: FOUND,
    observation: image('deleted'),
    expected: { phase: 'failed', imageId: 'img-1', error: killed('deleted') },
    outcomes: [{ type: 'import.failed', ...killed('deleted') }],
    next: 'done',
  },
  'found by tag, absent: failed IMAGE_NOT_FOUND': {
    record: FOUND,
    observation: ABSENT,
    expected: {
      phase: 'failed',
      imageId: 'img-1',
      error: { code: 'IMAGE_NOT_FOUND', reason: 'the image img-1 of this import is gone' },
    },
    lacks: ['jobId', 'jobStatus'],
    outcomes: [{ type: 'import.failed', code: 'IMAGE_NOT_FOUND', reason: 'the image img-1 of this import is gone' }],
    next: 'done',
  },
};

/** The fields no observation changes. */
function kept(record: ImageRecord) {
  const { region, spec: recordedSpec, specHash, attemptId, supersedes, createdAt } = record;
  return { region, spec: recordedSpec, specHash, attemptId, supersedes, createdAt };
}

function validRecord(record: ImageRecord): boolean {
  const state = { version: STATE_VERSION, lineage: 'l', serial: 1, images: { 'web-base': record } };
  return validateAgainst('state', state).length === 0;
}

describe('observe', () => {
  it('starts from records that are what the table says', () => {
    expect(SENT).toMatchObject({ phase: 'submitting', supersedes: 'img-old', createdAt: first.toISOString() });
    expect(RUNNING).toMatchObject({ phase: 'submitted', jobId: 'job-1', jobStatus: 'INIT' });
    expect(FOUND).toMatchObject({ phase: 'submitted', imageId: 'img-1' });
    expect(FOUND).not.toHaveProperty('jobStatus');
  });

  it.each(Object.entries(rows))('%s', (_name, row) => {
    const now = row.now ?? NOW;
    const observed = observe(row.record, row.observation, now, GRACE_MS, row.unusable);
    expect(observed.next).toBe(row.next);
    expect(observed.outcomes).toEqual(row.outcomes);
    if (row.expected === undefined) {
      expect(observed.record).toBeUndefined();
      return;
    }
    const record = observed.record!;
    expect(record).toMatchObject({ ...row.expected, updatedAt: now.toISOString() });
    for (const field of row.lacks ?? []) expect(record).not.toHaveProperty(field);
    expect(kept(record)).toEqual(kept(row.record));
    expect(validRecord(record)).toBe(true);
  });

  it('keeps a failure reason of 5 MB to 1000 characters, in the record and in what it says', () => {
    const observed = observe(
      RUNNING,
      job('FAIL', { errorCode: 'IMG.0057', failReason: 'x'.repeat(5_000_000) }),
      NOW,
      0,
    );
    const reason = `${'x'.repeat(1000)}… (4999000 more characters)`;
    expect(observed.record).toMatchObject({ phase: 'failed', error: { code: 'IMG.0057', reason } });
    expect(observed.outcomes).toEqual([{ type: 'import.failed', jobId: 'job-1', code: 'IMG.0057', reason }]);
  });

  it('calls an import answered 2xx with nothing usable an unusable answer, and nothing else', () => {
    const post = 'POST /v2/cloudimages/quickimport/action';
    const cases: [ImsError, boolean][] = [
      [new ImsError(`${post}: the answer (200) is not JSON: <html>`, 'BAD_RESPONSE', 'ambiguous', 200), true],
      [new ImsError('quick import: unexpected answer (no usable job_id): {}', 'BAD_RESPONSE', 'ambiguous', 200), true],
      [new ImsError(`${post}: the answer (200) is over 16777216 bytes`, 'ANSWER_TOO_LARGE', 'ambiguous', 200), true],
      [new ImsError(`${post}: 503 IMG.0061: busy`, 'IMG.0061', 'ambiguous', 503), false],
      [new ImsError(`${post}: no complete answer within 30s`, 'TIMEOUT', 'ambiguous'), false],
      [new ImsError(`${post}: 400 IMG.0003: bad name`, 'IMG.0003', 'never', 400), false],
    ];
    expect(cases.map(([error]) => isUnusableAnswer(error))).toEqual(cases.map(([, unusable]) => unusable));
  });

  it('leaves its inputs as they were', () => {
    const before = structuredClone(FOUND);
    observe(FOUND, image('active'), NOW, GRACE_MS);
    observe(FOUND, ABSENT, NOW, GRACE_MS);
    expect(FOUND).toEqual(before);
  });
});

describe('observe properties', () => {
  const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
  const id = fc.stringMatching(/^[a-z0-9-]{1,12}$/);

  const inFlight: fc.Arbitrary<SubmittingRecord | SubmittedRecord> = fc
    .record({
      kind: fc.constantFrom('submitting', 'job', 'job+image', 'found'),
      region: optional(fc.constantFrom('ap-southeast-1', 'cn-north-4')),
      supersedes: optional(id),
      attemptId: id,
      jobStatus: optional(fc.constantFrom('INIT', 'RUNNING', 'queued', 'saving')),
      createdMs: fc.integer({ min: 0, max: 10 * 86_400_000 }),
      sinceMs: fc.integer({ min: 0, max: 86_400_000 }),
      description: fc.constantFrom('', 'a', 'the web tier'),
    })
    .map((r) => {
      const created = new Date(first.getTime() + r.createdMs);
      const changed = new Date(created.getTime() + r.sinceMs);
      const intent = {
        spec: systemSpec('web-base', { description: r.description }),
        attemptId: r.attemptId,
        ...(r.region === undefined ? {} : { region: r.region }),
      };
      const base = intentRecord(undefined, intent, created);
      const submitting: SubmittingRecord = {
        ...base,
        ...(r.supersedes === undefined ? {} : { supersedes: r.supersedes }),
        updatedAt: changed.toISOString(),
      };
      if (r.kind === 'submitting') return submitting;
      let record: SubmittedRecord =
        r.kind === 'found' ? foundRecord(submitting, 'img-1', changed) : submittedRecord(submitting, 'job-1', changed);
      if (r.kind === 'job+image') record = { ...record, imageId: 'img-1' };
      return r.jobStatus === undefined ? record : progressRecord(record, r.jobStatus, changed);
    });

  const observation: fc.Arbitrary<Observation> = fc.oneof(
    fc
      .record({
        status: fc.constantFrom<JobStatus>('INIT', 'RUNNING', 'SUCCESS', 'FAIL'),
        imageId: optional(id),
        errorCode: optional(fc.constantFrom('IMG.0010', 'IMG.0057')),
        failReason: optional(fc.string({ maxLength: 20 })),
      })
      .map(({ status, imageId, errorCode, failReason }): Observation => {
        const found: Job = {
          jobId: 'job-1',
          status,
          ...(imageId === undefined ? {} : { imageId }),
          ...(errorCode === undefined ? {} : { errorCode }),
          ...(failReason === undefined ? {} : { failReason }),
        };
        return { kind: 'job', job: found };
      }),
    fc
      .record({ status: fc.constantFrom('queued', 'saving', 'active', 'killed', 'deleted', 'pending'), id })
      .map(({ status, id: imageId }): Observation => {
        const listed: Image = { id: imageId, name: 'web-base', status, tags: [] };
        return { kind: 'image', image: listed };
      }),
    fc.constant<Observation>({ kind: 'absent' }),
  );

  it('keeps what identifies the import and stamps the time of the observation', () => {
    fc.assert(
      fc.property(
        inFlight,
        observation,
        fc.integer({ min: 0, max: 2 * 3_600_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
        (record, seen, elapsedMs, graceMs) => {
          const now = new Date(Date.parse(record.updatedAt) + elapsedMs);
          const observed = observe(record, seen, now, graceMs);
          if (observed.next === 'resubmit') expect(record.phase).toBe('submitting');
          if (observed.record === undefined) return;
          expect(kept(observed.record)).toEqual(kept(record));
          expect(observed.record.updatedAt).toBe(now.toISOString());
          expect(validRecord(observed.record)).toBe(true);
          if (observed.record.phase === 'succeeded' || observed.record.phase === 'failed') {
            expect(observed.next).toBe('done');
            expect(observed.record).not.toHaveProperty('jobStatus');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
