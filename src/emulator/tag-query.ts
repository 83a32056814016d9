// POST /v2/{project_id}/images/resource_instances/action (HW ims_03_0616): images selected by their
// tags (and by name or id), counted or paged by offset, each with its tags as key/value pairs.
import type { ImageStore } from './images.js';
import type { Tag, TagCondition, TagQuery } from './validate.js';

/** An image as the query sees it: its tags always as key/value pairs, however lists show them. */
interface Candidate {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly tags: readonly Tag[];
}

export interface TagQueryResource {
  readonly resource_id: string;
  readonly resource_name: string;
  readonly resource_detail: { readonly status: string };
  readonly tags: readonly Tag[];
}

export type TagQueryAnswer =
  { readonly total_count: number } | { readonly resources: TagQueryResource[]; readonly total_count: number };

/** The answer to a validated query; images in submission order, so that offsets page without overlap. */
export function queryByTags(store: ImageStore, query: TagQuery): TagQueryAnswer {
  const selected = candidates(store).filter((image) => selects(query, image));
  if (query.action === 'count') return { total_count: selected.length };
  return {
    resources: selected.slice(query.offset, query.offset + query.limit).map((image) => ({
      resource_id: image.id,
      resource_name: image.name,
      resource_detail: { status: image.status },
      tags: image.tags,
    })),
    total_count: selected.length,
  };
}

/** The images the list shows (the same listing and delete lags), with their key/value tags. */
function candidates(store: ImageStore): Candidate[] {
  return store
    .list()
    .map(({ info, tags }) => ({ id: String(info.id), name: String(info.name), status: String(info.status), tags }));
}

/**
 * `tags`: every condition holds; `tags_any`: one does; `not_tags`: not every one does; `not_tags_any`:
 * none does; an absent list asks nothing. `without_any_tag` replaces all four. A name match is a
 * substring match (the documentation's "fuzzy" search), case-sensitive.
 */
function selects(query: TagQuery, image: Candidate): boolean {
  if (query.id !== undefined && image.id !== query.id) return false;
  if (query.nameContains !== undefined && !image.name.includes(query.nameContains)) return false;
  if (query.withoutAnyTag) return image.tags.length === 0;
  const holds = (condition: TagCondition): boolean =>
    image.tags.some(
      ({ key, value }) => key === condition.key && (condition.values.length === 0 || condition.values.includes(value)),
    );
  return (
    query.tags.every(holds) &&
    (query.tagsAny.length === 0 || query.tagsAny.some(holds)) &&
    (query.notTags.length === 0 || !query.notTags.every(holds)) &&
    !query.notTagsAny.some(holds)
  );
}
