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

  const texts = await Promise.all(files.map((file) => readFile(file, 'utf8').catch((error: Error) => error)));
  const manifests: Manifest[] = [];
  files.forEach((file, index) => {
    const text = texts[index]!;
    if (text instanceof Error) {
      diagnostics.push({ code: 'FILE_UNREADABLE', message: `${file}: cannot be read (${text.message})` });
      return;
    }
    const parsed = parseManifestFile(file, text);
    manifests.push(...parsed.manifests);
    diagnostics.push(...parsed.diagnostics);
  });
  diagnostics.push(...findDuplicateNames(manifests));
  return { manifests: diagnostics.length > 0 ? [] : manifests, diagnostics, files };
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
