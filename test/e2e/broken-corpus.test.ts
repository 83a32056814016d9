// The corpus of bad manifests (DESIGN.md §8): every file in test/fixtures/broken/ holds exactly one
// problem, and the real CLI must report it as exactly one diagnostic, with a stable code, at the
// offending node (an unknown field: its key; a wrong value: the value; a missing field: the mapping
// that lacks it), with a sentence. A new fixture without a row in EXPECTED fails the run.
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DiagnosticCode } from '../../src/manifest/diagnostic.js';
import { loadManifests } from '../../src/manifest/load.js';
import { repoRoot, runCli, type CliResult } from '../support/run-cli.js';

const CORPUS = 'test/fixtures/broken';

/** The one diagnostic each fixture yields: code, line, column (1-based). */
type Expectation = readonly [code: DiagnosticCode, line: number, column: number];

/**
 * File name -> its one diagnostic; `null` for duplicate-name-a.yaml, which is valid on its own and
 * is the "first" that duplicate-name-b.yaml's NAME_DUPLICATE points back to.
 */
const EXPECTED: Readonly<Record<string, Expectation | null>> = {
  // files and YAML
  'empty-file.yaml': ['FILE_EMPTY', 1, 1],
  'latin1-encoding.yaml': ['FILE_ENCODING', 10, 19],
  'utf16-with-bom.yaml': ['FILE_ENCODING', 1, 1],
  'comments-only.yaml': ['FILE_EMPTY', 1, 1],
  'not-a-mapping.yaml': ['DOC_NOT_MAPPING', 3, 1],
  'scalar-document.yaml': ['DOC_NOT_MAPPING', 3, 1],
  'yaml-syntax-error.yaml': ['YAML_SYNTAX', 7, 1],
  'yaml-missing-colon.yaml': ['YAML_SYNTAX', 7, 3],
  'yaml-text-after-quote.yaml': ['YAML_SYNTAX', 11, 30],
  'yaml-reserved-character.yaml': ['YAML_SYNTAX', 16, 16],
  'unknown-yaml-tag.yaml': ['YAML_TAG', 10, 14],
  'duplicate-mapping-key.yaml': ['YAML_DUPLICATE_KEY', 16, 3],
  'alias-bomb.yaml': ['YAML_ALIAS_LIMIT', 9, 12],
  'undefined-alias.yaml': ['YAML_SYNTAX', 12, 15],
  'binary-tag.yaml': ['YAML_TAG', 12, 16],
  'indentation-cascade.yaml': ['YAML_SYNTAX', 11, 1],
  'spec-is-list.yaml': ['FIELD_TYPE', 8, 3],
  'empty-spec-name.yaml': ['FIELD_LENGTH', 8, 9],

  // top level and metadata
  'wrong-api-version.yaml': ['API_VERSION', 3, 13],
  'missing-api-version.yaml': ['API_VERSION', 3, 1],
  'wrong-kind.yaml': ['KIND', 4, 7],
  'missing-kind.yaml': ['KIND', 3, 1],
  'unknown-top-level-field.yaml': ['FIELD_UNKNOWN', 20, 1],
  'metadata-missing.yaml': ['FIELD_REQUIRED', 3, 1],
  'spec-missing.yaml': ['FIELD_REQUIRED', 3, 1],
  'metadata-not-mapping.yaml': ['FIELD_TYPE', 5, 11],
  'metadata-unknown-field.yaml': ['FIELD_UNKNOWN', 7, 3],
  'metadata-name-missing.yaml': ['FIELD_REQUIRED', 6, 3],
  'metadata-name-uppercase.yaml': ['FIELD_FORMAT', 6, 9],
  'metadata-name-too-long.yaml': ['FIELD_LENGTH', 6, 9],
  'metadata-name-number.yaml': ['FIELD_TYPE', 6, 9],
  'region-bad.yaml': ['FIELD_FORMAT', 7, 11],

  // spec: required and unknown fields
  'missing-os-version.yaml': ['FIELD_REQUIRED', 9, 3],
  'missing-image-url.yaml': ['FIELD_REQUIRED', 9, 3],
  'missing-min-disk.yaml': ['FIELD_REQUIRED', 9, 3],
  'missing-spec-name.yaml': ['FIELD_REQUIRED', 9, 3],
  'data-image-missing-min-disk.yaml': ['FIELD_REQUIRED', 9, 3],
  'unknown-spec-field.yaml': ['FIELD_UNKNOWN', 13, 3],
  'spec-field-typo.yaml': ['FIELD_UNKNOWN', 14, 3],

  // spec: values
  'name-too-long.yaml': ['FIELD_LENGTH', 9, 9],
  'name-leading-space.yaml': ['FIELD_FORMAT', 9, 9],
  'name-bad-char.yaml': ['FIELD_FORMAT', 9, 9],
  'description-angle-bracket.yaml': ['FIELD_FORMAT', 16, 16],
  'description-too-long.yaml': ['FIELD_LENGTH', 16, 16],
  'description-carriage-return.yaml': ['FIELD_FORMAT', 16, 16],
  'image-url-no-colon.yaml': ['FIELD_FORMAT', 10, 14],
  'image-url-obs-scheme.yaml': ['FIELD_FORMAT', 10, 14],
  'min-disk-string.yaml': ['FIELD_TYPE', 12, 13],
  'min-disk-with-unit.yaml': ['FIELD_TYPE', 12, 13],
  'min-disk-zero.yaml': ['FIELD_RANGE', 12, 13],
  'min-disk-1025.yaml': ['FIELD_RANGE', 12, 13],
  'min-disk-float.yaml': ['FIELD_TYPE', 12, 13],
  'os-version-empty.yaml': ['FIELD_LENGTH', 11, 15],
  'type-unknown.yaml': ['FIELD_ENUM', 13, 9],
  'architecture-unknown.yaml': ['FIELD_ENUM', 14, 17],
  'firmware-unknown.yaml': ['FIELD_ENUM', 15, 21],
  'arm-with-bios.yaml': ['FIRMWARE_ARM', 14, 21],
  'license-type-unknown.yaml': ['FIELD_ENUM', 15, 17],
  'enterprise-project-bad.yaml': ['FIELD_FORMAT', 16, 26],
  'enterprise-project-unquoted-zero.yaml': ['FIELD_TYPE', 16, 26],

  // system versus data images
  'data-image-with-os-version.yaml': ['FIELD_NOT_ALLOWED', 11, 15],
  'system-image-with-os-type.yaml': ['FIELD_NOT_ALLOWED', 12, 12],
  'data-image-with-architecture.yaml': ['FIELD_NOT_ALLOWED', 14, 17],
  'data-image-with-license-type.yaml': ['FIELD_NOT_ALLOWED', 14, 17],
  'os-type-unknown.yaml': ['FIELD_ENUM', 11, 12],

  // tags
  'tags-and-image-tags.yaml': ['TAGS_CONFLICT', 18, 3],
  'too-many-tags.yaml': ['TAGS_TOO_MANY', 18, 5],
  'too-many-old-tags.yaml': ['TAGS_TOO_MANY', 18, 9],
  'tag-key-too-long.yaml': ['FIELD_FORMAT', 19, 14],
  'tag-value-too-long.yaml': ['FIELD_FORMAT', 19, 30],
  'old-tag-bad-char.yaml': ['FIELD_FORMAT', 18, 10],
  'image-tag-missing-value.yaml': ['FIELD_REQUIRED', 19, 7],
  'image-tag-extra-field.yaml': ['FIELD_UNKNOWN', 20, 7],
  'image-tag-value-number.yaml': ['FIELD_TYPE', 19, 30],
  'image-tags-not-list.yaml': ['FIELD_TYPE', 18, 5],
  'duplicate-tag-key.yaml': ['TAG_DUPLICATE_KEY', 20, 7],
  'duplicate-tag-identical.yaml': ['FIELD_DUPLICATE', 20, 7],
  'reserved-tag-key.yaml': ['TAG_RESERVED', 20, 7],
  'reserved-old-tag-key.yaml': ['TAG_RESERVED', 18, 30],

  // several documents, several files
  'multi-document-second-bad.yaml': ['FIELD_RANGE', 25, 13],
  'duplicate-name-a.yaml': null,
  'duplicate-name-b.yaml': ['NAME_DUPLICATE', 3, 1],
};

interface Reported {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly code: string;
  readonly message: string;
}

const DIAGNOSTIC_LINE = /^(?<file>.+?):(?<line>\d+):(?<column>\d+) {2}(?<code>[A-Z_]+) {2}(?<message>.*)$/;
const SUMMARY_LINE = /^\d+ errors? in \d+ files?$/;

const fixtures = readdirSync(join(repoRoot, CORPUS)).sort();
const expectedCount = Object.values(EXPECTED).filter((expectation) => expectation !== null).length;

describe('the broken-manifest corpus through the built CLI', () => {
  let run: CliResult;
  let reported: Reported[];
  let strayLines: string[];

  beforeAll(() => {
    run = runCli(['validate', CORPUS]);
    reported = [];
    strayLines = [];
    for (const line of run.stderr.split('\n')) {
      const match = DIAGNOSTIC_LINE.exec(line)?.groups;
      if (match) {
        reported.push({
          file: match.file!,
          line: Number(match.line),
          column: Number(match.column),
          code: match.code!,
          message: match.message!,
        });
      } else if (line.trim() !== '' && !SUMMARY_LINE.test(line)) {
        strayLines.push(line);
      }
    }
  });

  it('exits 1 and prints nothing but diagnostics and the summary', () => {
    expect(run.stdout).toBe('');
    expect(strayLines).toEqual([]);
    expect(run.stderr).toContain(`\n${expectedCount} errors in ${expectedCount} files\n`);
    expect(run.status).toBe(1);
  });

  it('has at least 45 fixtures, each with an expectation and each expectation with a fixture', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(45);
    expect(fixtures).toEqual(Object.keys(EXPECTED).sort());
  });

  it('reports only files of the corpus', () => {
    for (const diagnostic of reported) {
      expect(dirname(diagnostic.file)).toBe(join(CORPUS));
      expect(fixtures).toContain(basename(diagnostic.file));
    }
  });

  it.each(Object.entries(EXPECTED))('%s', (fixture, expectation) => {
    const own = reported.filter((diagnostic) => basename(diagnostic.file) === fixture);
    if (expectation === null) {
      expect(own).toEqual([]);
      return;
    }
    const [code, line, column] = expectation;
    expect(own.map((diagnostic) => `${diagnostic.line}:${diagnostic.column} ${diagnostic.code}`)).toEqual([
      `${line}:${column} ${code}`,
    ]);
    expect(own[0]!.message.trim()).not.toBe('');
  });

  it('names the first file in NAME_DUPLICATE', () => {
    const duplicate = reported.find((diagnostic) => diagnostic.code === 'NAME_DUPLICATE');
    expect(duplicate?.message).toContain(`${join(CORPUS, 'duplicate-name-a.yaml')}:3:1`);
  });
});

describe('the broken-manifest corpus through loadManifests', () => {
  it('returns no manifest at all, though some documents are valid on their own', async () => {
    const loaded = await loadManifests([join(repoRoot, CORPUS)]);
    expect(loaded.files).toHaveLength(fixtures.length);
    expect(loaded.diagnostics).toHaveLength(expectedCount);
    expect(loaded.manifests).toEqual([]);
  });
});
