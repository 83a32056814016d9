// Watches the manifest tree. Every change (add, edit, delete, rename, an editor's atomic save, a
// git checkout touching many files) is only a reason to reconcile; a quiet spell of `debounceMs`
// turns a burst of them into one.
import { watch, type FSWatcher } from 'chokidar';

const MANIFEST = /\.ya?ml$/;

export interface ManifestWatcher {
  close(): Promise<void>;
}

export async function watchManifests(
  paths: readonly string[],
  debounceMs: number,
  onChange: (what: string) => void,
): Promise<ManifestWatcher> {
  let timer: NodeJS.Timeout | undefined;
  let changed: string[] = [];
  const watcher: FSWatcher = watch([...paths], {
    ignoreInitial: true,
    // Directories are walked; of the files, only manifests count.
    ignored: (path, stats) => Boolean(stats?.isFile()) && !MANIFEST.test(path),
  });
  watcher.on('all', (event, path) => {
    if (!MANIFEST.test(path) && event !== 'unlinkDir' && event !== 'addDir') return;
    changed.push(`${event} ${path}`);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const what = changed.length === 1 ? changed[0]! : `${changed.length} changes (${changed[0]!}, ...)`;
      changed = [];
      onChange(what);
    }, debounceMs);
  });
  await new Promise<void>((resolve, reject) => {
    watcher.once('ready', resolve);
    watcher.once('error', reject);
  });
  return {
    close: async () => {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
