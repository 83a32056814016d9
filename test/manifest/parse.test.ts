import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifest/load.js';
import { parseManifestFile } from '../../src/manifest/parse.js';
import { specHash } from '../../src/manifest/spec.js';
import { systemSpec } from '../support/specs.js';

const header = 'apiVersion: imsync/v1\nkind: Image\n';
const valid = (name: string) =>
  `${header}metadata:\n  name: ${name}\nspec:\n  name: ${name}\n  image_url: golden-images:${name}.zvhd2\n  os_version: Ubuntu 22.04 server 64bit\n  min_disk: 40\n`;

describe('parseManifestFile', () => {
  it('reads every document of a multi-document file, with its position', () => {
    const { manifests, diagnostics } = parseManifestFile('a.yaml', `${valid('one')}---\n${valid('two')}`);
    expect(diagnostics).toEqual([]);
    expect(manifests.map((m) => [m.metadata.name, m.source.line])).toEqual([
      ['one', 1],
      ['two', 11],
    ]);
  });

  it('reports every problem of every document in one run, in file order', () => {
    const text = [
      `${header}metadata: { name: a }\nspec: { name: a, image_url: "b:c", min_disk: 0, os_version: x, colour: red }`,
      `${header}metadata: { name: b }\nspec: { name: b, image_url: "bucket:c.zvhd2", min_disk: 4 }`,
      'just a string',
    ].join('\n---\n');
    const { manifests, diagnostics } = parseManifestFile('a.yaml', text);
    expect(manifests).toEqual([]);
    expect(diagnostics.map((d) => [d.code, `${d.source?.line}:${d.source?.column}`])).toEqual([
      ['FIELD_FORMAT', '4:29'],
      ['FIELD_RANGE', '4:46'],
      ['FIELD_UNKNOWN', '4:64'],
      ['FIELD_REQUIRED', '9:7'],
      ['DOC_NOT_MAPPING', '11:1'],
    ]);
    expect(diagnostics[2]?.message).toContain('spec.colour');
    expect(diagnostics[3]?.message).toContain('"os_version"');
  });

  it('accepts anchors and aliases that share a block, and refuses an alias bomb', () => {
    const shared = `${header}metadata: { name: a }\nspec:\n  name: a\n  image_url: golden-images:a.zvhd2\n  os_version: x\n  min_disk: 4\n  image_tags: &tags [{ key: team, value: web }]\n`;
    expect(parseManifestFile('a.yaml', shared).diagnostics).toEqual([]);
    // Each level repeats the previous one nine times: 9^8 nodes from 80 lines of text.
    const levels = 'abcdefgh'.split('');
    const bomb = levels
      .map(
        (name, i) =>
          `${name}: &${name} [${
            i === 0
              ? 'x, x, x, x, x, x, x, x, x'
              : Array(9)
                  .fill(`*${levels[i - 1]}`)
                  .join(', ')
          }]`,
      )
      .join('\n');
    expect(parseManifestFile('bomb.yaml', bomb).diagnostics.map((d) => d.code)).toEqual(['YAML_ALIAS_LIMIT']);
  });

  it('accepts merge keys, so documents can share defaults', () => {
    const text = `${header}metadata: { name: a }\nspec:\n  <<: &defaults { os_version: x, min_disk: 40 }\n  name: a\n  image_url: golden-images:a.zvhd2\n`;
    const { manifests, diagnostics } = parseManifestFile('a.yaml', text);
    expect(diagnostics).toEqual([]);
    expect(manifests[0]?.spec).toEqual({
      os_version: 'x',
      min_disk: 40,
      name: 'a',
      image_url: 'golden-images:a.zvhd2',
    });
  });

  it('skips empty documents, and calls a file with none empty', () => {
    expect(parseManifestFile('a.yaml', `---\n${valid('one')}---\n`).manifests).toHaveLength(1);
    expect(parseManifestFile('b.yaml', '# nothing here yet\n').diagnostics).toMatchObject([
      { code: 'FILE_EMPTY', source: { file: 'b.yaml', line: 1, column: 1 } },
    ]);
  });

  it('points at the duplicate key, not at the document', () => {
    const { diagnostics } = parseManifestFile('a.yaml', `${valid('one')}  min_disk: 50\n`);
    expect(diagnostics).toMatchObject([{ code: 'YAML_DUPLICATE_KEY', source: { line: 10, column: 3 } }]);
  });
});

describe('loadManifests', () => {
  it('reads directories recursively in sorted order, .yaml and .yml only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imsync-load-'));
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'b', 'z.yml'), valid('z'));
    await writeFile(join(dir, 'a.yaml'), valid('a'));
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    const { manifests, files } = await loadManifests([dir]);
    expect(files).toEqual([join(dir, 'a.yaml'), join(dir, 'b', 'z.yml')]);
    expect(manifests.map((m) => m.metadata.name)).toEqual(['a', 'z']);
  });

  it('names both places of a duplicate metadata.name and uses nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imsync-load-'));
    await writeFile(join(dir, 'a.yaml'), valid('web'));
    await writeFile(join(dir, 'b.yaml'), `${valid('other')}---\n${valid('web')}`);
    const { manifests, diagnostics } = await loadManifests([dir]);
    expect(manifests).toEqual([]);
    expect(diagnostics).toMatchObject([{ code: 'NAME_DUPLICATE', source: { file: join(dir, 'b.yaml'), line: 11 } }]);
    expect(diagnostics[0]?.message).toContain(`${join(dir, 'a.yaml')}:1:1`);
  });

  it('reports missing paths and directories without manifests', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imsync-load-'));
    const { diagnostics } = await loadManifests([join(dir, 'missing'), dir]);
    expect(diagnostics.map((d) => d.code)).toEqual(['PATH_NOT_FOUND', 'NO_MANIFESTS']);
  });

  it('loads the shipped examples', async () => {
    const { manifests, diagnostics } = await loadManifests(['manifests']);
    expect(diagnostics).toEqual([]);
    expect(manifests.length).toBeGreaterThanOrEqual(8);
  });
});

describe('specHash', () => {
  it('changes with meaning only', () => {
    const base = specHash(systemSpec('a', { tags: ['team.web'] }));
    expect(specHash(systemSpec('a', { type: 'ECS', image_tags: [{ key: 'team', value: 'web' }] }))).toBe(base);
    expect(specHash(systemSpec('a', { tags: ['team.db'] }))).not.toBe(base);
  });
});
