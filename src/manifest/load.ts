// Reads manifest files and directories. The only I/O of manifest loading; parsing and validation
// are pure (parse.ts).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLocation, type Diagnostic } from './diagnostic.js';
import { parseManifestFile } from './parse.js';
import type { Manifest } from './types.js';

export interface LoadResult {
  /** Empty whenever `diagnostics` is not: a set with any error is never partly used. */
  readonly manifests: readonly Manifest[];
  readonly diagnostics: readonly Diagnostic[];
  readonly files: readonly string[];
}

const MANIFEST_FILE = /\.ya?ml$/;

/** Loads every manifest under `paths` (files, or directories read recursively in sorted order). */
export async function loadManifests(paths: readonly string[]): Promise<LoadResult> {
  const diagnostics: Diagnostic[] = [];
  const files: string[] = [];
  for (const path of paths) {
    const found = await listManifestFiles(path);
    if (typeof found === 'string') diagnostics.push({ code: 'PATH_NOT_FOUND', message: found });
    else if (found.length === 0)
      diagnostics.push({ code: 'NO_MANIFESTS', message: `${path}: no *.yaml or *.yml files` });
    else files.push(...found.filter((file) => !files.includes(file)));
  }

  const contents = await Promise.all(files.map((file) => readFile(file).catch((error: Error) => error)));
  const manifests: Manifest[] = [];
  files.forEach((file, index) => {
    const bytes = contents[index]!;
    if (bytes instanceof Error) {
      diagnostics.push({ code: 'FILE_UNREADABLE', message: `${file}: cannot be read (${bytes.message})` });
      return;
    }
    const text = decodeUtf8(file, bytes);
    if (typeof text !== 'string') {
      diagnostics.push(text);
      return;
    }
    const parsed = parseManifestFile(file, text);
    manifests.push(...parsed.manifests);
    diagnostics.push(...parsed.diagnostics);
  });
  diagnostics.push(...findDuplicateNames(manifests));
  return { manifests: diagnostics.length > 0 ? [] : manifests, diagnostics, files };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The file's text, or where it stops being UTF-8 (YAML is UTF-8 here): a UTF-16 file is named by
 * its byte order mark, any other encoding (Latin-1, say) by its first byte that UTF-8 cannot read.
 */
function decodeUtf8(file: string, bytes: Buffer): string | Diagnostic {
  const utf16 =
    bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  if (utf16) {
    return {
      code: 'FILE_ENCODING',
      source: { file, line: 1, column: 1 },
      message: 'the file is UTF-16 (it begins with a UTF-16 byte order mark); save it as UTF-8',
    };
  }
  try {
    return UTF8.decode(bytes);
  } catch {
    const at = firstInvalidByte(bytes);
    const before = bytes.subarray(0, at);
    const line = before.filter((byte) => byte === 0x0a).length + 1;
    const lineStart = before.lastIndexOf(0x0a) + 1;
    const column = new TextDecoder().decode(bytes.subarray(lineStart, at)).length + 1;
    const byte = `0x${bytes[at]!.toString(16).padStart(2, '0')}`;
    return {
      code: 'FILE_ENCODING',
      source: { file, line, column },
      message: `the file is not UTF-8: byte ${byte} here cannot be read (Latin-1 or Windows-1252, perhaps); save it as UTF-8`,
    };
  }
}

/** Where UTF-8 reading stops: the lead byte of the first sequence that is not well formed. */
function firstInvalidByte(bytes: Buffer): number {
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i]!;
    const length =
      lead < 0x80
        ? 1
        : lead >= 0xc2 && lead < 0xe0
          ? 2
          : lead >= 0xe0 && lead < 0xf0
            ? 3
            : lead >= 0xf0 && lead < 0xf5
              ? 4
              : 0;
    if (length === 0) return i;
    for (let k = 1; k < length; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += length;
  }
  return Math.max(0, bytes.length - 1);
}

/** The manifest files a path names, sorted; or why it names none. */
async function listManifestFiles(path: string): Promise<string[] | string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return `${path}: no such file or directory`;
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && MANIFEST_FILE.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function findDuplicateNames(manifests: readonly Manifest[]): Diagnostic[] {
  const firstSeen = new Map<string, Manifest>();
  const diagnostics: Diagnostic[] = [];
  for (const manifest of manifests) {
    const name = manifest.metadata.name;
    const first = firstSeen.get(name);
    if (!first) {
      firstSeen.set(name, manifest);
      continue;
    }
    diagnostics.push({
      code: 'NAME_DUPLICATE',
      source: manifest.source,
      message: `metadata.name "${name}" is already used at ${formatLocation(first.source)}; names must be unique across all manifests`,
    });
  }
  return diagnostics;
}
