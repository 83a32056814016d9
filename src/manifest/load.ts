// Reads manifest files and directories. The only I/O of manifest loading; parsing and validation
// are pure (parse.ts).
import { constants, type Dirent, type Stats } from 'node:fs';
import { open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { formatLocation, type Diagnostic } from './diagnostic.js';
import { parseManifestFile, type ParsedFile } from './parse.js';
import type { Manifest } from './types.js';

export interface LoadResult {
  /** Empty whenever `diagnostics` is not: a set with any error is never partly used. */
  readonly manifests: readonly Manifest[];
  readonly diagnostics: readonly Diagnostic[];
  readonly files: readonly string[];
  /** What each file gave, for a next load that reads again only the files that changed. */
  readonly read: ReadFiles;
}

/** What reading a file gave, by the path that reached it. */
export type ReadFiles = ReadonlyMap<string, ReadFile>;

interface ReadFile extends ParsedFile {
  readonly real: string;
}

export interface Reuse {
  /** The previous load's files. */
  readonly read: ReadFiles;
  /** The files changed since (a watcher's events); every other file is taken from `read`. */
  readonly changed: ReadonlySet<string>;
}

const MANIFEST_FILE = /\.ya?ml$/;
const READ_AT_ONCE = 16;

/**
 * Loads every manifest under `paths` (files, or directories read recursively in sorted order,
 * symbolic links followed). A file reached by more than one path is read once, under the first.
 * With `reuse`, the directories are listed again but only new and changed files are read: at
 * 10,000 files, reading and parsing them all takes seconds.
 */
export async function loadManifests(paths: readonly string[], reuse?: Reuse): Promise<LoadResult> {
  const diagnostics: Diagnostic[] = [];
  const reached: Reached[] = [];
  const realPaths = new Set<string>();
  for (const path of paths) {
    const listing = await listManifestFiles(path);
    diagnostics.push(...listing.diagnostics);
    if (listing.files.length === 0 && listing.diagnostics.length === 0)
      diagnostics.push({ code: 'NO_MANIFESTS', message: `${path}: no *.yaml or *.yml files` });
    for (const file of listing.files) {
      if (realPaths.has(file.real)) continue;
      realPaths.add(file.real);
      reached.push(file);
    }
  }
  const files = reached.map((file) => file.path);

  // A change named by a path that is neither a file read before nor one listed now (a directory,
  // a file reached through another link) could be anything: then every file is read again.
  const listed = new Set(files);
  const trusted = reuse && [...reuse.changed].every((path) => reuse.read.has(path) || listed.has(path));
  const reused = (file: Reached) => {
    const before = trusted ? reuse.read.get(file.path) : undefined;
    return before?.real === file.real && !reuse!.changed.has(file.path) ? before : undefined;
  };
  // A few at a time: 10,000 files read at once hold every one of their texts, and their parses, in memory together.
  const limit = pLimit(READ_AT_ONCE);
  const results = await Promise.all(reached.map(async (file) => reused(file) ?? (await limit(() => readOne(file)))));
  const read = new Map(reached.map((file, index) => [file.path, results[index]!]));
  const manifests = results.flatMap((result) => result.manifests);
  diagnostics.push(...results.flatMap((result) => result.diagnostics));
  diagnostics.push(...findDuplicateNames(manifests));
  return { manifests: diagnostics.length > 0 ? [] : manifests, diagnostics, files, read };
}

/** A manifest file read and parsed: its manifests, or what is wrong with it. */
async function readOne({ path, real }: Reached): Promise<ReadFile> {
  const bytes = await readRegularFile(path);
  if (!Buffer.isBuffer(bytes)) return { real, manifests: [], diagnostics: [bytes] };
  const text = decodeUtf8(path, bytes);
  if (typeof text !== 'string') return { real, manifests: [], diagnostics: [text] };
  return { real, ...parseManifestFile(path, text) };
}

/**
 * The file's bytes. It is opened without waiting and looked at again, so that whatever took its
 * place since it was listed (a FIFO nobody writes to) is refused rather than waited on.
 */
async function readRegularFile(file: string): Promise<Buffer | Diagnostic> {
  try {
    const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const info = await handle.stat();
      return info.isFile() ? await handle.readFile() : notRegular(file, info);
    } finally {
      await handle.close();
    }
  } catch (error) {
    return unreadable(file, error as Error);
  }
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

/** A manifest file as a path reached it, and where it really is. */
interface Reached {
  readonly path: string;
  readonly real: string;
}

interface Listing {
  readonly files: Reached[];
  readonly diagnostics: Diagnostic[];
}

/**
 * The manifest files a path names, sorted, and what is wrong on the way. A link leading nowhere
 * is an error (it may have led to manifests, whose images would look orphaned); anything but a
 * regular file or a directory is refused unopened.
 */
async function listManifestFiles(path: string): Promise<Listing> {
  const listing: Listing = { files: [], diagnostics: [] };
  const found = await follow(path);
  if (!('real' in found)) listing.diagnostics.push(found);
  else if (found.info.isDirectory()) await walk(path, found.real, new Set([found.real]), listing);
  else if (found.info.isFile()) listing.files.push({ path, real: found.real });
  else listing.diagnostics.push(notRegular(path, found.info));
  listing.files.sort((a, b) => byText(a.path, b.path));
  return listing;
}

/** Lists the directory `dir` (really at `real`) into `listing`, each directory once: a loop ends. */
async function walk(dir: string, real: string, walked: Set<string>, listing: Listing): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: Error) => error);
  if (entries instanceof Error) {
    listing.diagnostics.push(unreadable(dir, entries));
    return;
  }
  for (const entry of entries.sort((a, b) => byText(a.name, b.name))) {
    const path = join(dir, entry.name);
    // Emacs marks a file being edited with a link `.#name` to nowhere: a lock, not a manifest.
    if (entry.isSymbolicLink() && entry.name.startsWith('.#')) continue;
    const found = entry.isSymbolicLink() ? await follow(path) : { real: join(real, entry.name), info: entry };
    if (!('real' in found)) listing.diagnostics.push(found);
    else if (found.info.isDirectory()) {
      if (walked.has(found.real)) continue;
      walked.add(found.real);
      await walk(path, found.real, walked, listing);
    } else if (!MANIFEST_FILE.test(entry.name)) continue;
    else if (found.info.isFile()) listing.files.push({ path, real: found.real });
    else listing.diagnostics.push(notRegular(path, found.info));
  }
}

/** Where `path` leads once every link is followed, and what is there; or why it leads nowhere. */
async function follow(path: string): Promise<{ real: string; info: Stats } | Diagnostic> {
  try {
    const real = await realpath(path);
    return { real, info: await stat(real) };
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ELOOP')
      return { code: 'LINK_LOOP', message: `${path}: a loop of symbolic links, leading to no file` };
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return unreadable(path, error as Error);
    const target = await readlink(path).catch(() => undefined);
    return target === undefined
      ? { code: 'PATH_NOT_FOUND', message: `${path}: no such file or directory` }
      : { code: 'LINK_DANGLING', message: `${path}: a symbolic link to ${target}, which does not exist` };
  }
}

/** The order of `Array.prototype.sort`, as manifests have always been read in. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function notRegular(path: string, info: Stats | Dirent): Diagnostic {
  return {
    code: 'FILE_NOT_REGULAR',
    message: `${path}: ${specialFileKind(info)}, not a regular file or a directory; manifests are read from regular files`,
  };
}

/** What a path that is neither a regular file nor a directory is, in words: "a FIFO". */
export function specialFileKind(info: Stats | Dirent): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  return info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : 'a special file';
}

function unreadable(path: string, error: Error): Diagnostic {
  return { code: 'FILE_UNREADABLE', message: `${path}: cannot be read (${error.message})` };
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
