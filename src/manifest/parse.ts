import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  visit,
  type Alias,
  type Document,
  type Node,
  type YAMLError,
} from 'yaml';
import type { Diagnostic, DiagnosticCode } from './diagnostic.js';
import { describeSchemaErrors, fieldName, type SchemaProblem } from './schema-errors.js';
import { validateAgainst } from './schema.js';
import {
  API_VERSION,
  KIND,
  OWNERSHIP_TAG_KEYS,
  type ImageManifest,
  type ImageSpec,
  type Manifest,
  type SourceLocation,
} from './types.js';

export interface ParsedFile {
  readonly manifests: readonly Manifest[];
  readonly diagnostics: readonly Diagnostic[];
}

/** Aliases may share a block of tags; more expansions than this is a resource-exhaustion attempt. */
const MAX_ALIAS_EXPANSIONS = 100;

/**
 * Parses and validates every document of one manifest file. Pure: the text is passed in, and
 * every problem is returned with its position rather than thrown.
 */
export function parseManifestFile(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  // `merge` allows `<<: *defaults`, common in hand-written YAML; `resolveKnownTags: false` leaves
  // tags such as !!binary and !!timestamp unresolved, so they are reported instead of becoming bytes or dates.
  const documents = parseAllDocuments(text, {
    lineCounter,
    merge: true,
    prettyErrors: false,
    resolveKnownTags: false,
    uniqueKeys: true,
  });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const manifests: Manifest[] = [];
  const diagnostics: Diagnostic[] = [];
  let nonEmpty = 0;

  for (const document of documents) {
    // After the first syntax error the parser's view is guesswork: one message per document.
    const [yamlProblem] = [...document.errors, ...document.warnings];
    if (yamlProblem) {
      diagnostics.push(yamlDiagnostic(yamlProblem, text, at));
      continue;
    }
    const contents = document.contents;
    if (contents === null || (isScalar(contents) && contents.value === null)) continue;
    nonEmpty++;
    const start = at(contents.range?.[0] ?? 0);
    if (!isMap(contents)) {
      diagnostics.push({
        code: 'DOC_NOT_MAPPING',
        source: start,
        message: `a manifest must be a mapping with apiVersion, kind, metadata and spec, not ${isSeq(contents) ? 'a list' : 'a plain value'}`,
      });
      continue;
    }
    const value = toValue(document);
    if ('code' in value) {
      diagnostics.push({ code: value.code, message: value.message, source: at(value.offset) });
      continue;
    }
    const problems = checkDocument(value.data);
    if (problems.length > 0) {
      for (const problem of problems) {
        diagnostics.push({ code: problem.code, message: problem.message, source: at(offsetOf(document, problem)) });
      }
      continue;
    }
    manifests.push({ ...(value.data as unknown as ImageManifest), source: start });
  }

  if (nonEmpty === 0 && diagnostics.length === 0) {
    diagnostics.push({
      code: 'FILE_EMPTY',
      source: { file, line: 1, column: 1 },
      message: 'the file holds no manifest',
    });
  }
  diagnostics.sort((a, b) => a.source!.line - b.source!.line || a.source!.column - b.source!.column);
  return { manifests, diagnostics };
}

/** The document as plain data, or why aliases keep it from becoming that. */
function toValue(
  document: Document,
): { data: Record<string, unknown> } | { code: DiagnosticCode; message: string; offset: number } {
  try {
    return { data: document.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) as Record<string, unknown> };
  } catch {
    let firstAlias: Alias | undefined;
    let unresolved: Alias | undefined;
    visit(document, {
      Alias(_, alias) {
        firstAlias ??= alias;
        if (!alias.resolve(document)) {
          unresolved = alias;
          return visit.BREAK;
        }
      },
    });
    if (unresolved) {
      return {
        code: 'YAML_SYNTAX',
        message: `the alias *${unresolved.source} refers to no anchor defined before it`,
        offset: unresolved.range?.[0] ?? 0,
      };
    }
    return {
      code: 'YAML_ALIAS_LIMIT',
      message: `the document expands aliases more than ${MAX_ALIAS_EXPANSIONS} times, which is refused as a resource-exhaustion risk`,
      offset: firstAlias?.range?.[0] ?? document.contents?.range?.[0] ?? 0,
    };
  }
}

function yamlDiagnostic(problem: YAMLError, text: string, at: (offset: number) => SourceLocation): Diagnostic {
  const codes: Partial<Record<string, DiagnosticCode>> = {
    DUPLICATE_KEY: 'YAML_DUPLICATE_KEY',
    TAG_RESOLVE_FAILED: 'YAML_TAG',
    BAD_COLLECTION_TYPE: 'YAML_TAG',
  };
  // The first line of yaml's message is the sentence; the rest is a source excerpt we print ourselves.
  const message =
    problem.code === 'DUPLICATE_KEY'
      ? `the key ${keyAt(text, problem.pos[0])} appears twice in the same mapping`
      : problem.code === 'TAG_RESOLVE_FAILED'
        ? `the YAML tag ${/^\S+/.exec(text.slice(problem.pos[0]))?.[0] ?? ''} has no meaning in a manifest; write the value plainly`
        : problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return { code: codes[problem.code] ?? 'YAML_SYNTAX', source: at(problem.pos[0]), message };
}

/** The key written at `offset`, as written (yaml marks only its first character). */
function keyAt(text: string, offset: number): string {
  const key = /^("[^"]*"|'[^']*'|[^:\s]+)/.exec(text.slice(offset, offset + 200))?.[1] ?? '';
  return key.startsWith('"') || key.startsWith("'") ? key : `"${key}"`;
}

/** The version and kind gate the schema: a document of another kind is not judged by this one. */
function checkDocument(value: Record<string, unknown>): SchemaProblem[] {
  if (value.apiVersion !== API_VERSION) {
    return [
      {
        code: 'API_VERSION',
        path: 'apiVersion' in value ? ['apiVersion'] : [],
        message: `apiVersion must be "${API_VERSION}"; got ${JSON.stringify(value.apiVersion) ?? 'nothing'}`,
      },
    ];
  }
  if (value.kind !== KIND) {
    return [
      {
        code: 'KIND',
        path: 'kind' in value ? ['kind'] : [],
        message: `kind must be "${KIND}"; got ${JSON.stringify(value.kind) ?? 'nothing'}`,
      },
    ];
  }
  const problems = describeSchemaErrors(validateAgainst('image', value));
  return problems.length > 0 ? problems : checkTagKeys((value as unknown as ImageManifest).spec);
}

/** What JSON Schema cannot say about tags: keys are unique, and imsync's own keys are reserved. */
function checkTagKeys(spec: ImageSpec): SchemaProblem[] {
  const field = spec.tags ? 'tags' : 'image_tags';
  const keys = spec.tags?.map((tag) => tag.split('.', 1)[0]!) ?? spec.image_tags?.map((tag) => tag.key) ?? [];
  const problems: SchemaProblem[] = [];
  keys.forEach((key, index) => {
    const path = ['spec', field, index];
    if ((OWNERSHIP_TAG_KEYS as readonly string[]).includes(key)) {
      problems.push({
        code: 'TAG_RESERVED',
        path,
        message: `${fieldName(path)} uses the key "${key}", which imsync reserves for its ownership tags`,
      });
    } else if (keys.indexOf(key) !== index) {
      problems.push({
        code: 'TAG_DUPLICATE_KEY',
        path,
        message: `${fieldName(path)} repeats the tag key "${key}" (first at ${fieldName(['spec', field, keys.indexOf(key)])})`,
      });
    }
  });
  return problems;
}

/** The deepest node along `path` that exists: the offending value, its key, or its parent mapping. */
function offsetOf(document: Document, problem: SchemaProblem): number {
  let node: unknown = document.contents;
  let offset = (node as Node).range?.[0] ?? 0;
  for (const [index, segment] of problem.path.entries()) {
    const last = index === problem.path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && item.key.value === segment);
      if (!pair) break;
      const target = last && problem.atKey ? pair.key : pair.value;
      offset = (target as Node | null)?.range?.[0] ?? (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (!node) break;
      offset = (node as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}
