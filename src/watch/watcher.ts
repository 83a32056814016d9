// Watches the manifest tree. Every change (add, edit, delete, rename, an editor's atomic save, a
// git checkout touching many files) is only a reason to reconcile; a quiet spell turns a burst of
// them into one, and changes that never stop are reported all the same after a longest wait.
//
// One inotify watch per directory, not per file: a directory's watch hears of every entry in it
// being made, written, renamed or removed. At 10,000 manifests in a few directories that is a few
// watches instead of 10,000 watchers, each with its own handle, stats and timers in the heap.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const MANIFEST = /\.ya?ml$/;

export interface ManifestWatcher {
  close(): Promise<void>;
}

export interface Debounce {
  /** Changes are reported once none came for this long... */
  readonly quietMs: number;
  /** ...or at the latest this long after the first of them. */
  readonly maxWaitMs: number;
}

/** Told one burst of changes: in words, and the paths they touched. */
export type OnChange = (what: string, paths: readonly string[]) => void;

/**
 * Watches `paths` (files, or directories followed down, symbolic links included, as the loader
 * reads them). A changed path is named as the loader names it: joined onto the path given.
 */
export async function watchManifests(
  paths: readonly string[],
  debounce: Debounce,
  onChange: OnChange,
): Promise<ManifestWatcher> {
  const changes = debounceChanges(debounce, onChange);
  /**
   * By the path as reached: the directory's watch, where it really is (a loop guard), the manifest
   * files known in it, and, for a directory watched only for files given by name, those names.
   */
  const watched = new Map<
    string,
    { readonly watcher: FSWatcher; readonly real: string; readonly manifests: Set<string>; names?: Set<string> }
  >();

  const unwatch = (directory: string) => {
    for (const [path, entry] of watched) {
      if (path !== directory && !path.startsWith(`${directory}/`)) continue;
      entry.watcher.close();
      watched.delete(path);
    }
  };
  const onEvent = (directory: string, event: string, name: string | null) => {
    if (name === null) {
      // The kernel's queue overflowed: anything under it may have changed.
      changes.add(`${event} ${directory}`, directory);
      return;
    }
    const only = watched.get(directory)?.names;
    if (only && !only.has(name)) return;
    const path = join(directory, name);
    if (MANIFEST.test(name)) {
      manifestEvent(directory, name, event);
      return;
    }
    if (only || event !== 'rename') return;
    // An entry made, removed or renamed that is no manifest: a directory, perhaps.
    void directoryAt(path).then(async (real) => {
      if (real === undefined) {
        if (!watched.has(path)) return;
        unwatch(path);
        changes.add(`unlinkDir ${path}`, path);
      } else if (!watched.has(path)) {
        await walk(path, real);
        changes.add(`addDir ${path}`, path);
      }
    });
  };
  /** In words a person reads (add, change, unlink): inotify says only "rename" or "change". */
  const manifestEvent = (directory: string, name: string, event: string) => {
    const path = join(directory, name);
    const known = watched.get(directory)?.manifests;
    if (known === undefined) {
      changes.add(`change ${path}`, path);
      return;
    }
    if (event !== 'rename') {
      // A file written for the first time is heard of as written, perhaps before it is as made.
      changes.add(`${known.has(name) ? 'change' : 'add'} ${path}`, path);
      known.add(name);
      return;
    }
    void stat(path).then(
      () => {
        changes.add(`${known.has(name) ? 'change' : 'add'} ${path}`, path);
        known.add(name);
      },
      () => {
        if (!known.delete(name)) return; // made and removed again unseen (an editor's temporary file)
        changes.add(`unlink ${path}`, path);
      },
    );
  };
  /** Watches directory whole, or only for the file `name` in it. */
  const add = (directory: string, real: string, name?: string) => {
    const entry = watched.get(directory);
    if (entry) {
      if (name === undefined) delete entry.names;
      else entry.names?.add(name);
      return;
    }
    const watcher = watch(directory, { persistent: true }, (event, changed) => onEvent(directory, event, changed));
    // A directory removed ends its watch; its parent's watch reports the removal.
    watcher.on('error', () => unwatch(directory));
    watched.set(directory, {
      watcher,
      real,
      manifests: new Set(),
      ...(name === undefined ? {} : { names: new Set([name]) }),
    });
  };
  const walk = async (directory: string, real: string, ancestors: ReadonlySet<string> = new Set()) => {
    add(directory, real);
    const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
    const manifests = watched.get(directory)?.manifests;
    for (const entry of entries) {
      if (MANIFEST.test(entry.name)) manifests?.add(entry.name);
      if (entry.isFile()) continue;
      const path = join(directory, entry.name);
      const target = await directoryAt(path);
      // A link back up the tree would be walked forever.
      if (target !== undefined && target !== real && !ancestors.has(target)) {
        await walk(path, target, new Set([...ancestors, real]));
      }
    }
  };

  for (const path of paths) {
    const real = await directoryAt(path);
    if (real !== undefined) {
      await walk(path, real);
      continue;
    }
    // A file (or nothing yet): its directory's watch, told to hear only of it, survives the file
    // being replaced by an editor's atomic save.
    const directory = dirname(path);
    const directoryReal = await directoryAt(directory);
    if (directoryReal === undefined) continue;
    add(directory, directoryReal, basename(path));
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      watched.get(directory)?.manifests.add(basename(path));
  }
  return {
    close: () => {
      changes.cancel();
      for (const { watcher } of watched.values()) watcher.close();
      watched.clear();
      return Promise.resolve();
    },
  };
}

/** Where path really is, when it is a directory (through links); undefined otherwise. */
async function directoryAt(path: string): Promise<string | undefined> {
  try {
    return (await stat(path)).isDirectory() ? await realpath(path) : undefined;
  } catch {
    return undefined;
  }
}

/** lodash's `debounce` with `maxWait`, for change descriptions: one report per burst. */
export function debounceChanges(
  { quietMs, maxWaitMs }: Debounce,
  onChange: OnChange,
): { add(change: string, path: string): void; cancel(): void } {
  let quiet: NodeJS.Timeout | undefined;
  let longest: NodeJS.Timeout | undefined;
  let changed: string[] = [];
  let touched = new Set<string>();
  const cancel = () => {
    clearTimeout(quiet);
    clearTimeout(longest);
    longest = undefined;
  };
  const report = () => {
    cancel();
    const what = changed.length === 1 ? changed[0]! : `${changed.length} changes (${changed[0]!}, ...)`;
    const paths = [...touched];
    changed = [];
    touched = new Set();
    onChange(what, paths);
  };
  return {
    add(change, path) {
      changed.push(change);
      touched.add(path);
      clearTimeout(quiet);
      quiet = setTimeout(report, quietMs);
      longest ??= setTimeout(report, maxWaitMs);
    },
    cancel,
  };
}
