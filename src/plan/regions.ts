// Which regions one run covers: every region a manifest or a record names (a manifest without one
// is in the default region), or only those asked for with --region. Pure.
import type { Manifest } from '../manifest/types.js';
import type { State } from '../state/model.js';

export interface RunRegions {
  /** Sorted; the default region among them when anything is in it. */
  readonly regions: readonly string[];
  /** Regions named by manifests or records that this run leaves alone (--region narrowed it). */
  readonly leftOut: readonly string[];
}

/**
 * `only` empty: every region of the manifests and records. A manifest or record without a region
 * counts in `defaultRegion`; without one either, nothing can be told and the run is the one
 * connection's (regions empty: the caller runs as before, for an endpoint given alone).
 */
export function runRegions(
  manifests: readonly Manifest[],
  state: State,
  defaultRegion: string | undefined,
  only: readonly string[] = [],
): RunRegions {
  const named = new Set<string>();
  const add = (region: string | undefined) => {
    const resolved = region ?? defaultRegion;
    if (resolved !== undefined) named.add(resolved);
  };
  for (const manifest of manifests) add(manifest.metadata.region);
  for (const record of Object.values(state.images)) add(record.region);
  // With nothing at all yet, the run is the default region's (a first plan of an empty set).
  if (named.size === 0 && defaultRegion !== undefined) named.add(defaultRegion);
  const wanted = only.length === 0 ? named : new Set(only);
  return {
    regions: [...wanted].sort(),
    leftOut: [...named].filter((region) => !wanted.has(region)).sort(),
  };
}
