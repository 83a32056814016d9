import type { ErrorObject } from 'ajv';
import type { DiagnosticCode } from './diagnostic.js';

/** A schema violation in user terms, still to be given a file position. */
export interface SchemaProblem {
  readonly code: DiagnosticCode;
  readonly message: string;
  /** Path of the offending node in the document, for positions. */
  readonly path: readonly (string | number)[];
  /** True when the position is the key of the node (an unknown field), not its value. */
  readonly atKey?: boolean;
}

const SYSTEM_ONLY_HINT = 'applies to system images only (type ECS or BMS), not to a data image (type: DataImage)';

/** Translates ajv's errors into one sentence each: one per offending node, the first ajv found. */
export function describeSchemaErrors(errors: readonly ErrorObject[]): SchemaProblem[] {
  const problems = new Map<string, SchemaProblem>();
  for (const error of errors) {
    if (wrongBranch(error, errors)) continue;
    const problem = describe(error);
    const node = JSON.stringify(problem?.path);
    if (problem && !problems.has(node)) problems.set(node, problem);
  }
  return [...problems.values()];
}

function describe(error: ErrorObject): SchemaProblem | undefined {
  const path = parsePointer(error.instancePath);
  const field = fieldName(path);
  const hint = describeSchema(error.parentSchema);
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      const why = missing === 'os_version' ? ' (system images need name, os_version, image_url and min_disk)' : '';
      return { code: 'FIELD_REQUIRED', path, message: `${field || 'the document'} is missing "${missing}"${why}` };
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((error.parentSchema as { properties?: object }).properties ?? {});
      const suggestion = closest(extra, known);
      return {
        code: 'FIELD_UNKNOWN',
        path: [...path, extra],
        atKey: true,
        message:
          `unknown field "${fieldName([...path, extra])}"` +
          (suggestion ? `; did you mean "${suggestion}"?` : `; known fields: ${known.join(', ')}`),
      };
    }
    case 'type':
      return {
        code: 'FIELD_TYPE',
        path,
        message: `${field} must be ${article((error.params as { type: string }).type)}, not ${typeName(error.data, (error.params as { type: string }).type)}`,
      };
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.join(', ');
      return { code: 'FIELD_ENUM', path, message: `${field} must be one of ${allowed}; got ${show(error.data)}` };
    }
    case 'const':
      if (field === 'spec.hw_firmware_type') {
        return {
          code: 'FIRMWARE_ARM',
          path,
          message: 'arm images boot with UEFI only: spec.hw_firmware_type must be uefi',
        };
      }
      return { code: 'FIELD_ENUM', path, message: `${field} must be ${show(error.schema)}; got ${show(error.data)}` };
    case 'pattern':
      return { code: 'FIELD_FORMAT', path, message: `${field} ${show(error.data)} is not valid. ${hint}` };
    case 'minLength':
    case 'maxLength':
      return { code: 'FIELD_LENGTH', path, message: `${field} is ${lengthOf(error.data)} characters long. ${hint}` };
    case 'minimum':
    case 'maximum':
      return { code: 'FIELD_RANGE', path, message: `${field} is ${show(error.data)}, out of range. ${hint}` };
    case 'maxItems':
      return {
        code: 'TAGS_TOO_MANY',
        path,
        message: `${field} has ${lengthOf(error.data)} tags; at most 8 are allowed (the API takes 10, and imsync adds 2 ownership tags)`,
      };
    case 'uniqueItems': {
      const { i, j } = error.params as { i: number; j: number };
      const [first, again] = [Math.min(i, j), Math.max(i, j)];
      return {
        code: 'FIELD_DUPLICATE',
        path: [...path, again],
        message: `${fieldName([...path, again])} repeats ${fieldName([...path, first])}`,
      };
    }
    case 'false schema':
      return {
        code: 'FIELD_NOT_ALLOWED',
        path,
        message:
          field === 'spec.os_type'
            ? 'spec.os_type applies to data images only (type: DataImage); a system image takes os_version'
            : `${field} ${SYSTEM_ONLY_HINT}${field === 'spec.os_version' ? '; a data image takes os_type' : ''}`,
      };
    case 'not':
      return {
        code: 'TAGS_CONFLICT',
        path: [...path, 'image_tags'],
        atKey: true,
        message: `${field} has both tags and image_tags; the API takes one or the other`,
      };
    case 'if':
      return undefined; // ajv repeats the failing then/else branch as an "if" error
    default:
      return { code: 'FIELD_FORMAT', path, message: `${field} ${error.message ?? 'is not valid'}` };
  }
}

/**
 * A oneOf/anyOf branch that rejected the value for its type alone (`null`, for a plan's record
 * that may be null), when another branch took the value and found what is wrong inside it: the
 * other branch's error is the one to tell.
 */
function wrongBranch(error: ErrorObject, errors: readonly ErrorObject[]): boolean {
  if (error.keyword !== 'type' || !/\/(oneOf|anyOf)\/\d+\/type$/.test(error.schemaPath)) return false;
  const node = error.instancePath;
  return errors.some(
    (other) =>
      other !== error &&
      !['oneOf', 'anyOf', 'if'].includes(other.keyword) &&
      (other.instancePath === node || other.instancePath.startsWith(`${node}/`)),
  );
}

/** `/spec/image_tags/0/key` -> ['spec', 'image_tags', 0, 'key']. */
function parsePointer(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => {
      const segment = part.replaceAll('~1', '/').replaceAll('~0', '~');
      return /^\d+$/.test(segment) ? Number(segment) : segment;
    });
}

/** ['spec', 'image_tags', 0, 'key'] -> `spec.image_tags[0].key`. */
export function fieldName(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function describeSchema(schema: unknown): string {
  const description = (schema as { description?: unknown } | undefined)?.description;
  return typeof description === 'string' ? `Expected: ${description}` : '';
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function lengthOf(value: unknown): number {
  return typeof value === 'string' || Array.isArray(value) ? value.length : 0;
}

/** Names what was written, with the fix when the fix is only quoting or unquoting. */
function typeName(value: unknown, expected: string): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    return `the string ${show(value)}${expected === 'integer' && /^\d+$/.test(value) ? ' (remove the quotes)' : ''}`;
  }
  return `${typeof value} ${show(value)}${expected === 'string' ? ' (quote it to make it a string)' : ''}`;
}

function article(type: string): string {
  const names: Record<string, string> = { object: 'a mapping', array: 'a list', integer: 'a whole number' };
  return names[type] ?? `a ${type}`;
}

/** The known name within edit distance 2 of a misspelt one, if there is exactly a best one. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
