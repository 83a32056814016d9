// The TypeScript types (src/manifest/types.ts) and schemas/image.schema.json describe the same
// spec; these tests fail when one changes without the other.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { validateAgainst } from '../../src/manifest/schema.js';
import { FIELD_CHANGE } from '../../src/manifest/spec.js';
import {
  ARCHITECTURES,
  FIRMWARE_TYPES,
  IMAGE_TYPES,
  LICENSE_TYPES,
  OS_TYPES,
  type DataImageSpec,
  type ImageSpec,
  type SystemImageSpec,
} from '../../src/manifest/types.js';

interface PropertySchema {
  enum?: string[];
}
const schema = JSON.parse(readFileSync(new URL('../../schemas/image.schema.json', import.meta.url), 'utf8')) as {
  definitions: { spec: { properties: Record<string, PropertySchema>; required: string[]; allOf: unknown[] } };
};
const spec = schema.definitions.spec;

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type Exhaustive<Listed, All> = [Exclude<All, Listed>] extends [never] ? true : false;
const systemRequired = ['name', 'image_url', 'min_disk', 'os_version'] as const;
const dataRequired = ['name', 'image_url', 'min_disk', 'type'] as const;
// Compile-time: the lists above name every required field of the types, and nothing else.
const exhaustive: [
  Exhaustive<(typeof systemRequired)[number], RequiredKeys<SystemImageSpec>>,
  Exhaustive<(typeof dataRequired)[number], RequiredKeys<DataImageSpec>>,
] = [true, true];

describe('image schema and TypeScript types', () => {
  it('have the same spec fields', () => {
    expect(Object.keys(spec.properties).sort()).toEqual(Object.keys(FIELD_CHANGE).sort());
  });

  it('require the same fields', () => {
    expect(exhaustive).toEqual([true, true]);
    const alwaysRequired = spec.required;
    expect([...alwaysRequired, 'os_version'].sort()).toEqual([...systemRequired].sort());
    expect([...alwaysRequired, 'type'].sort()).toEqual([...dataRequired].sort());
    expect(JSON.stringify(spec.allOf[0])).toContain('"else":{"required":["os_version"]');
  });

  it('allow the same values', () => {
    expect(spec.properties.type?.enum).toEqual([...IMAGE_TYPES]);
    expect(spec.properties.architecture?.enum).toEqual([...ARCHITECTURES]);
    expect(spec.properties.hw_firmware_type?.enum).toEqual([...FIRMWARE_TYPES]);
    expect(spec.properties.license_type?.enum).toEqual([...LICENSE_TYPES]);
    expect(spec.properties.os_type?.enum).toEqual([...OS_TYPES]);
  });

  const word = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
  const tags = fc.uniqueArray(
    fc.record({ key: word, value: fc.stringMatching(/^[A-Za-z0-9_.-]{0,20}$/) }, { noNullPrototype: true }),
    {
      selector: (tag) => tag.key,
      maxLength: 8,
    },
  );
  const common = {
    name: fc.stringMatching(/^[A-Za-z0-9._-]([A-Za-z0-9._ -]{0,30}[A-Za-z0-9._-])?$/),
    description: fc.stringMatching(/^[^\r<>]{0,60}$/),
    image_url: word.map((object) => `golden-images:${object}.zvhd2`),
    min_disk: fc.integer({ min: 1, max: 1024 }),
    enterprise_project_id: fc.constantFrom('0', '3e1d9c5c-1f0e-4e3f-9a55-1d2c3b4a5f60'),
    image_tags: tags,
  };
  const systemSpec: fc.Arbitrary<SystemImageSpec> = fc.record(
    {
      ...common,
      type: fc.constantFrom('ECS' as const, 'BMS' as const),
      os_version: fc.constantFrom('Ubuntu 22.04 server 64bit', 'CentOS 7.0 64bit'),
      architecture: fc.constant('x86' as const),
      hw_firmware_type: fc.constantFrom(...FIRMWARE_TYPES),
      license_type: fc.constantFrom(...LICENSE_TYPES),
    },
    { requiredKeys: ['name', 'image_url', 'min_disk', 'os_version'], noNullPrototype: true },
  );
  const dataSpec: fc.Arbitrary<DataImageSpec> = fc.record(
    { ...common, type: fc.constant('DataImage' as const), os_type: fc.constantFrom(...OS_TYPES) },
    { requiredKeys: ['name', 'image_url', 'min_disk', 'type'], noNullPrototype: true },
  );

  it('the schema accepts every spec the types allow', () => {
    fc.assert(
      fc.property(fc.oneof(systemSpec, dataSpec), (imageSpec: ImageSpec) => {
        const document = { apiVersion: 'imsync/v1', kind: 'Image', metadata: { name: 'a' }, spec: imageSpec };
        expect(validateAgainst('image', document)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
