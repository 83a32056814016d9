import type { SourceLocation } from './types.js';

/**
 * A problem with user input, reported with every other problem of the same run rather than
 * thrown: a stable `code` for scripts, a sentence for people, and where it is when there is a "where".
 */
export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly message: string;
  readonly source?: SourceLocation;
}

export type DiagnosticCode =
  | 'PATH_NOT_FOUND'
  | 'LINK_DANGLING'
  | 'LINK_LOOP'
  | 'FILE_NOT_REGULAR'
  | 'FILE_UNREADABLE'
  | 'FILE_ENCODING'
  | 'NO_MANIFESTS'
  | 'FILE_EMPTY'
  | 'YAML_SYNTAX'
  | 'YAML_DUPLICATE_KEY'
  | 'YAML_ALIAS_LIMIT'
  | 'YAML_TAG'
  | 'DOC_NOT_MAPPING'
  | 'API_VERSION'
  | 'KIND'
  | 'FIELD_REQUIRED'
  | 'FIELD_UNKNOWN'
  | 'FIELD_TYPE'
  | 'FIELD_FORMAT'
  | 'FIELD_LENGTH'
  | 'FIELD_RANGE'
  | 'FIELD_ENUM'
  | 'FIELD_NOT_ALLOWED'
  | 'FIELD_DUPLICATE'
  | 'FIRMWARE_ARM'
  | 'TAGS_CONFLICT'
  | 'TAGS_TOO_MANY'
  | 'TAG_DUPLICATE_KEY'
  | 'TAG_RESERVED'
  | 'NAME_DUPLICATE';

/** `file:line:column`, the form editors and terminals turn into links. */
export function formatLocation(source: SourceLocation): string {
  return `${source.file}:${source.line}:${source.column}`;
}
