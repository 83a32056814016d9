// Generated bench inputs: realistic manifests written as a person would write them, and a state
// that records every one of them as imported, built with the state model's own transitions.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageManifest, ImageSpec, ImageTag } from '../../src/manifest/types.js';
import type { ImageRecord, State } from '../../src/state/model.js';
import { fromDist } from './bench.js';

type Model = typeof import('../../src/state/model.js');
type Codec = typeof import('../../src/state/codec.js');

export interface FixtureOptions {
  readonly files: number;
  readonly documentsPerFile: number;
  /** Every how many-th image is recorded with a different spec; alternately an update and a replace. */
  readonly driftEvery: number;
}

export interface Fixtures {
  readonly manifestDir: string;
  readonly statePath: string;
  readonly manifests: number;
  readonly yamlBytes: number;
  readonly stateBytes: number;
  /** What planning the manifests against the state must give. */
  readonly expected: { readonly update: number; readonly replace: number; readonly unchanged: number };
}

const TEAMS = ['web', 'data', 'payments', 'search', 'ml', 'platform', 'observability', 'edge'] as const;
const ROLES = ['base', 'api', 'worker', 'gateway', 'batch', 'cache', 'runner', 'proxy'] as const;
const X86_OS = [
  'Ubuntu 22.04 server 64bit',
  'CentOS 7.9 64bit',
  'Huawei Cloud EulerOS 2.0 64bit',
  'Debian GNU/Linux 12.0.0 64bit',
  'Windows Server 2022 Standard 64bit',
] as const;
const ARM_OS = ['Huawei Cloud EulerOS 2.0 64bit', 'Ubuntu 22.04 server 64bit', 'openEuler 22.03 64bit'] as const;
const REGIONS = ['ap-southeast-1', 'ap-southeast-3', 'cn-north-4', 'la-south-2'] as const;
const PROJECT = '1e7b4c2a-93f0-4d6b-a8c1-5f2e9d0b7a34';
/** The clock of the recorded imports. */
const AT = new Date('2026-11-02T09:30:00.000Z');
const later = (seconds: number) => new Date(AT.getTime() + seconds * 1000);

const pick = <T>(list: readonly T[], index: number): T => list[index % list.length]!;
const hex = (index: number, width: number) => index.toString(16).padStart(width, '0');
const fakeUuid = (prefix: string, index: number) =>
  `${prefix}${hex(index, 8 - prefix.length)}-0000-4000-8000-${hex(index * 7919, 12)}`;

/**
 * The manifest of image `index`, owned by `team`: 40% ECS with image_tags, 25% with old-style tags,
 * 15% arm, 15% data images, 5% BMS; two thirds name a region.
 */
export function manifestFor(index: number, team: string): ImageManifest {
  const role = pick(ROLES, index);
  const release = `2026.${(index % 12) + 1}`;
  const key = `img-${String(index).padStart(5, '0')}`;
  const name = `${team}-${role}-${release}`;
  const bucket = `golden-images-${team}`;
  const region = index % 3 === 0 ? undefined : pick(REGIONS, index);
  const imageTags: ImageTag[] = [
    { key: 'team', value: team },
    { key: 'release', value: release },
    ...(index % 4 === 0 ? [{ key: 'cost-center', value: `cc-${index % 17}` }] : []),
  ];
  const oldTags = [`team.${team}`, `tier.${role}`, ...(index % 5 === 0 ? ['pci'] : [])];
  const description = `${team} ${role} image, release ${release}, built by the ${team} pipeline`;

  let spec: ImageSpec;
  const kind = index % 20;
  if (kind < 8) {
    spec = {
      name,
      image_url: `${bucket}:${role}/${name}.zvhd2`,
      os_version: pick(X86_OS, index),
      min_disk: 40,
      type: 'ECS',
      ...(index % 2 === 0 ? { architecture: 'x86' as const, hw_firmware_type: 'bios' as const } : {}),
      description,
      image_tags: imageTags,
    };
  } else if (kind < 13) {
    spec = {
      name,
      image_url: `${bucket}:${role}/${name}.qcow2.zvhd2`,
      os_version: pick(X86_OS, index + 1),
      min_disk: 50,
      ...(index % 3 === 0 ? {} : { description }),
      tags: oldTags,
    };
  } else if (kind < 16) {
    spec = {
      name: `${name}-arm`,
      image_url: `${bucket}:${role}/${name}-arm.zvhd2`,
      os_version: pick(ARM_OS, index),
      min_disk: 40,
      architecture: 'arm',
      ...(index % 2 === 0 ? { hw_firmware_type: 'uefi' as const } : {}),
      description: `${description} (Kunpeng)`,
      image_tags: [...imageTags, { key: 'arch', value: 'arm' }],
    };
  } else if (kind < 19) {
    spec = {
      name: `${name}-data`,
      image_url: `${bucket}:volumes/${name}.raw`,
      type: 'DataImage',
      os_type: index % 6 === 0 ? 'Windows' : 'Linux',
      min_disk: 200,
      description: `Pre-formatted ${role} volume for ${team}`,
      ...(index % 2 === 0 ? { image_tags: imageTags } : { tags: oldTags }),
    };
  } else {
    spec = {
      name: `${name}-bms`,
      image_url: `${bucket}:bms/${name}.raw`,
      os_version: 'CentOS 7.9 64bit',
      min_disk: 100,
      type: 'BMS',
      hw_firmware_type: 'uefi',
      license_type: 'byol',
      enterprise_project_id: PROJECT,
      description: `${team} bare-metal ${role} hosts`,
      tags: oldTags,
    };
  }
  return {
    apiVersion: 'imsync/v1',
    kind: 'Image',
    metadata: region === undefined ? { name: key } : { name: key, region },
    spec,
  };
}

/** A YAML scalar, plain where YAML reads it back as the same string, single-quoted otherwise. */
function scalar(value: string, flow = false): string {
  const plain = flow ? /^[A-Za-z][A-Za-z0-9._-]*$/ : /^[A-Za-z][A-Za-z0-9 ._/,:()-]*[A-Za-z0-9._)]$/;
  const ambiguous = /^(true|false|null|yes|no|on|off)$|: | #/i;
  return plain.test(value) && !ambiguous.test(value) ? value : `'${value.replaceAll("'", "''")}'`;
}

const SPEC_ORDER = [
  'name',
  'image_url',
  'os_version',
  'os_type',
  'min_disk',
  'type',
  'architecture',
  'hw_firmware_type',
  'license_type',
  'enterprise_project_id',
  'description',
] as const;

/** One document, in the styles the example manifests use: flow tag lists, both tag-map styles, comments. */
export function manifestYaml(manifest: ImageManifest, index: number): string {
  const { metadata, spec } = manifest;
  const lines = [
    ...(index % 10 === 0 ? [`# ${spec.name}: rebuilt monthly by the image pipeline`] : []),
    'apiVersion: imsync/v1',
    'kind: Image',
    'metadata:',
    `  name: ${metadata.name}`,
    ...(metadata.region === undefined ? [] : [`  region: ${metadata.region}`]),
    'spec:',
  ];
  const fields = spec as unknown as Record<string, string | number | undefined>;
  for (const field of SPEC_ORDER) {
    const value = fields[field];
    if (value !== undefined) lines.push(`  ${field}: ${typeof value === 'number' ? value : scalar(value)}`);
  }
  if (spec.tags) lines.push(`  tags: [${spec.tags.map((tag) => scalar(tag, true)).join(', ')}]`);
  if (spec.image_tags) {
    lines.push('  image_tags:');
    for (const { key, value } of spec.image_tags) {
      if (index % 2 === 0) lines.push(`    - { key: ${scalar(key, true)}, value: ${scalar(value, true)} }`);
      else lines.push(`    - key: ${scalar(key, true)}`, `      value: ${scalar(value, true)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The spec recorded for image `index`: the manifest's, or for one in every `driftEvery` an older one,
 * at a position that moves along so that images of every kind drift.
 */
function recordedSpec(
  spec: ImageSpec,
  index: number,
  driftEvery: number,
): { spec: ImageSpec; drift?: 'update' | 'replace' } {
  if (index % driftEvery !== Math.floor(index / driftEvery) % driftEvery) return { spec };
  if (Math.floor(index / driftEvery) % 2 === 0) {
    return { spec: { ...spec, description: 'the previous build, before the hardening pass' }, drift: 'update' };
  }
  return { spec: { ...spec, image_url: spec.image_url.replace(/(\.[a-z0-9]+)$/, '-previous$1') }, drift: 'replace' };
}

/**
 * Writes `files` manifest files and a state recording every image as imported, into `dir`.
 * Each record goes through the model's own transitions: intent, submitted, succeeded.
 */
export async function writeFixtures(dir: string, options: FixtureOptions): Promise<Fixtures> {
  const model = await fromDist<Model>('state/model.js');
  const { encodeState } = await fromDist<Codec>('state/codec.js');
  const manifestDir = join(dir, 'manifests');
  const expected = { update: 0, replace: 0, unchanged: 0 };
  const images: Record<string, ImageRecord> = {};
  let yamlBytes = 0;

  for (let file = 0; file < options.files; file++) {
    const team = pick(TEAMS, file);
    const documents: string[] = [];
    for (let document = 0; document < options.documentsPerFile; document++) {
      const index = file * options.documentsPerFile + document;
      const manifest = manifestFor(index, team);
      documents.push(manifestYaml(manifest, index));

      const key = manifest.metadata.name;
      const { spec, drift } = recordedSpec(manifest.spec, index, options.driftEvery);
      expected[drift ?? 'unchanged']++;
      const region = manifest.metadata.region;
      const intent = { spec, attemptId: fakeUuid('a', index), ...(region === undefined ? {} : { region }) };
      const submitted = model.submittedRecord(
        model.intentRecord(undefined, intent, AT),
        `ff8080829${hex(index, 23)}`,
        later(1),
      );
      images[key] = model.succeededRecord(submitted, fakeUuid('', index), later(300 + (index % 600)));
    }
    const header = '# yaml-language-server: $schema=../../schemas/image.schema.json\n';
    const text = header + documents.join('---\n');
    yamlBytes += Buffer.byteLength(text);
    const subdir = join(manifestDir, team);
    await mkdir(subdir, { recursive: true });
    await writeFile(join(subdir, `images-${String(file).padStart(3, '0')}.yaml`), text);
  }

  const state: State = { ...model.emptyState(), lineage: '5b0f3c8e-2d71-4a9e-b6f4-0c9d8e7a6b51', serial: 3, images };
  const statePath = join(dir, 'imsync.state.json');
  const encoded = encodeState(state);
  await writeFile(statePath, encoded, { mode: 0o600 });

  return {
    manifestDir,
    statePath,
    manifests: options.files * options.documentsPerFile,
    yamlBytes,
    stateBytes: Buffer.byteLength(encoded),
    expected,
  };
}
