// A record's source (the image file as the pre-flight saw it) belongs to its attempt: every
// transition of the attempt keeps it, and a new attempt records its own or none.
import { describe, expect, it } from 'vitest';
import {
  failedRecord,
  intentRecord,
  progressRecord,
  replacedRecord,
  submittedRecord,
  succeededRecord,
  updatedRecord,
} from '../../src/state/model.js';
import { systemSpec } from '../support/specs.js';
import { at, imageFile } from '../support/states.js';

const spec = systemSpec('web-base');
const intent = intentRecord(undefined, { spec, attemptId: 'attempt-1', source: imageFile }, at);

describe("a record's source", () => {
  it('is kept through every transition of the attempt that saw it', () => {
    const submitted = submittedRecord(intent, 'job-1', at);
    const succeeded = succeededRecord(progressRecord(submitted, 'RUNNING', at), 'image-1', at);
    const records = [
      intent,
      submitted,
      succeeded,
      failedRecord(submitted, { code: 'IMG.0057', reason: 'empty file' }, at),
      updatedRecord(succeeded, systemSpec('web-base', { description: 'new' }), at),
      replacedRecord({ ...succeeded, supersedes: 'image-0' }, at),
    ];
    for (const record of records) expect(record.source).toEqual(imageFile);
  });

  it("is the new attempt's own: one made without a look at the file has none", () => {
    const failed = failedRecord(submittedRecord(intent, 'job-1', at), { code: 'IMG.0057', reason: 'empty' }, at);
    const again = intentRecord(failed, { spec, attemptId: 'attempt-2' }, at);
    expect(again.failures).toBe(1);
    expect('source' in again).toBe(false);
    const reuploaded = { etag: '"0f343b0931126a20f133d67c2b018a3b"', size: 1024 };
    expect(intentRecord(failed, { spec, attemptId: 'attempt-3', source: reuploaded }, at).source).toEqual(reuploaded);
  });
});
