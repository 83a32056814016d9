// GET /v2/cloudimages: filters, sorting and marker pagination (research/ims-api.md §7).
import { ImsFailure } from './errors.js';
import type { ImageInfo, ListedImage } from './images.js';

/** Query parameters (besides id) that select images whose attribute of the same name equals the value. */
const EQUALITY_FILTERS = [
  'name',
  'status',
  '__imagetype',
  'visibility',
  'owner',
  'protected',
  'virtual_env_type',
  '__os_type',
  '__os_bit',
  '__platform',
  'disk_format',
  'container_format',
  'architecture',
  'min_disk',
  'min_ram',
] as const;

const SORT_KEYS = new Set(['created_at', 'name', 'container_format', 'disk_format', 'status', 'id', 'size']);
const DEFAULT_LIMIT = 500;
/** The largest page served; a larger limit is served this many (the real maximum is not documented). */
const MAX_LIMIT = 1000;

/**
 * One page of images. `tag=key=value` (repeatable, all must match) matches the image's key/value
 * tags, however `tags` shows them; `enterprise_project_id=all_granted_eps` matches every project. Parameters it does not
 * know are ignored. A marker that names no image is IMG.0027; bad sort or limit values IMG.0001.
 */
export function listImages(
  all: () => ListedImage[],
  find: (id: string) => ListedImage | undefined,
  query: URLSearchParams,
): ImageInfo[] {
  const sortKey = query.get('sort_key') ?? 'created_at';
  const sortDir = query.get('sort_dir') ?? 'desc';
  if (!SORT_KEYS.has(sortKey)) {
    throw new ImsFailure('IMG.0001', `sort_key must be one of ${[...SORT_KEYS].join(', ')}`);
  }
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new ImsFailure('IMG.0001', 'sort_dir must be asc or desc');
  const limitText = query.get('limit');
  if (limitText !== null && !/^\d+$/.test(limitText)) {
    throw new ImsFailure('IMG.0001', 'limit must be a whole number');
  }
  const limit = Math.min(limitText === null ? DEFAULT_LIMIT : Number(limitText), MAX_LIMIT);
  const markerId = query.get('marker');
  const marker = markerId === null ? undefined : find(markerId);
  if (markerId !== null && marker === undefined) {
    throw new ImsFailure('IMG.0027', `marker ${markerId} names no image`);
  }

  const sign = sortDir === 'asc' ? 1 : -1;
  const order = (a: ListedImage, b: ListedImage): number =>
    sign * (compare(a.info[sortKey], b.info[sortKey]) || a.seq - b.seq);
  // By id is how clients read one image back: a lookup, not a scan.
  const id = query.get('id');
  const byId = id === null ? undefined : find(id);
  const candidates = id === null ? all() : byId === undefined ? [] : [byId];
  const selected = candidates
    .filter((image) => matches(image, query) && (marker === undefined || order(image, marker) > 0))
    .sort(order);
  return selected.slice(0, limit).map((image) => image.info);
}

function matches({ info, tags }: ListedImage, query: URLSearchParams): boolean {
  for (const field of EQUALITY_FILTERS) {
    const wanted = query.get(field);
    if (wanted !== null && scalarText(info[field]) !== wanted) return false;
  }
  const project = query.get('enterprise_project_id');
  if (project !== null && project !== 'all_granted_eps' && info.enterprise_project_id !== project) return false;
  const pairs = new Set(tags.map(({ key, value }) => `${key}=${value}`));
  return query.getAll('tag').every((tag) => pairs.has(tag));
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const [x, y] = [scalarText(a), scalarText(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** An attribute as a query would spell it; '' for an absent one. */
function scalarText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}
