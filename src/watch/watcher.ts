// Watches the manifest tree. Every change (add, edit, delete, rename, an editor's atomic save, a
// git checkout touching many files) is only a reason to reconcile; a quiet spell turns a burst of
// them into one, and changes that never stop are reported all the same after a longest wait.
import { watch, type FSWatcher } from 'chokidar';

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

export async function watchManifests(
  paths: readonly string[],
  debounce: Debounce,
  onChange: OnChange,
): Promise<ManifestWatcher> {
  const changes = debounceChanges(debounce, onChange);
  const watcher: FSWatcher = watch([...paths], {
    ignoreInitial: true,
    // Directories are walked; of the files, only manifests count.
    ignored: (path, stats) => Boolean(stats?.isFile()) && !MANIFEST.test(path),
  });
  watcher.on('all', (event, path) => {
    if (!MANIFEST.test(path) && event !== 'unlinkDir' && event !== 'addDir') return;
    changes.add(`${event} ${path}`, path);
  });
  await new Promise<void>((resolve, reject) => {
    watcher.once('ready', resolve);
    watcher.once('error', reject);
  });
  return {
    close: async () => {
      changes.cancel();
      await watcher.close();
    },
  };
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
