import { describe, expect, it } from 'vitest';
import { parseObjectsFile } from '../../src/emulator/index.js';

describe('parseObjectsFile', () => {
  it('reads objects, storage class and region optional', () => {
    const text = JSON.stringify([
      { bucket: 'golden', key: 'a.zvhd2', size: 1024, storageClass: 'WARM', region: 'ap-southeast-1' },
      { bucket: 'golden', key: 'b.raw', size: 0, region: 'ap-southeast-1' },
      { bucket: 'other', key: 'c.raw', size: 5 },
    ]);
    expect(parseObjectsFile(text, 'objects.json')).toEqual([
      { bucket: 'golden', key: 'a.zvhd2', size: 1024, storageClass: 'WARM', region: 'ap-southeast-1' },
      { bucket: 'golden', key: 'b.raw', size: 0, region: 'ap-southeast-1' },
      { bucket: 'other', key: 'c.raw', size: 5 },
    ]);
  });

  it.each([
    ['[', 'objects.json: not valid JSON'],
    ['{}', 'objects.json: expected a JSON array'],
    ['[1]', 'objects.json: entry 0: expected an object'],
    ['[{"key":"a","size":1}]', 'objects.json: entry 0: bucket must be a non-empty string'],
    ['[{"bucket":"b","size":1}]', 'objects.json: entry 0 (b): key must be a non-empty string'],
    ['[{"bucket":"b","key":"a","size":"1 GB"}]', 'objects.json: entry 0 (b:a): size must be a whole number of bytes'],
    [
      '[{"bucket":"b","key":"a","size":1,"storageClass":"GLACIER"}]',
      'entry 0 (b:a): storageClass must be one of STANDARD, WARM, COLD, DEEP_ARCHIVE',
    ],
    ['[{"bucket":"b","key":"a","size":1,"region":""}]', 'entry 0 (b:a): region must be a non-empty string'],
    ['[{"bucket":"b","key":"a","size":1,"class":"COLD"}]', 'entry 0: unknown field "class"'],
    [
      '[{"bucket":"b","key":"a","size":1},{"bucket":"b","key":"c","size":1,"region":"eu-west-101"}]',
      'objects.json: entry 1 (b:c): bucket b is given two regions',
    ],
  ])('refuses %s', (text, message) => {
    expect(() => parseObjectsFile(text, 'objects.json')).toThrow(message);
  });
});

describe('parseObjectsFile: encryption and buckets', () => {
  it('reads the encryption of objects, and buckets declared without a key', () => {
    const text = JSON.stringify([
      { bucket: 'golden', key: 'a.zvhd2', size: 1, encryption: 'kms' },
      { bucket: 'golden', key: 'b.zvhd2', size: 1, encryption: 'customer' },
      { bucket: 'golden', storageClass: 'WARM' },
      { bucket: 'empty', region: 'eu-west-101' },
    ]);
    expect(parseObjectsFile(text, 'objects.json')).toEqual([
      { bucket: 'golden', key: 'a.zvhd2', size: 1, encryption: 'kms' },
      { bucket: 'golden', key: 'b.zvhd2', size: 1, encryption: 'customer' },
      { bucket: 'golden', storageClass: 'WARM' },
      { bucket: 'empty', region: 'eu-west-101' },
    ]);
  });

  it.each([
    [
      '[{"bucket":"b","key":"a","size":1,"encryption":"SSE-C"}]',
      'objects.json: entry 0 (b:a): encryption must be one of kms, AES256, customer',
    ],
    [
      '[{"bucket":"b","encryption":"kms"}]',
      'objects.json: entry 0 (b): key must be a non-empty string (an entry with only bucket, storageClass, region declares a bucket)',
    ],
    ['[{"bucket":"b","storageClass":"HOT"}]', 'objects.json: entry 0 (b): storageClass must be one of STANDARD'],
    ['[{"bucket":"b","region":7}]', 'objects.json: entry 0 (b): region must be a non-empty string'],
    [
      '[{"bucket":"b","storageClass":"WARM"},{"bucket":"b","storageClass":"COLD"}]',
      'objects.json: entry 1 (b): bucket b is declared twice',
    ],
    [
      '[{"bucket":"b","key":"a","size":1},{"bucket":"b","key":"a","size":2}]',
      'objects.json: entry 1 (b:a): object a is given twice',
    ],
    [
      '[{"bucket":"b","region":"eu-west-101"},{"bucket":"b","key":"a","size":1}]',
      'objects.json: entry 1 (b:a): bucket b is given two regions',
    ],
  ])('refuses %s', (text, message) => {
    expect(() => parseObjectsFile(text, 'objects.json')).toThrow(message);
  });
});
