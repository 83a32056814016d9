// Realism switches: where the IMS documentation is silent (research/ims-fidelity.md §2), the
// emulator can play each plausible variant, so that a client can be shown correct under all of
// them. `kind` is the emulator's long-standing behaviour; `strict` the harshest combination.

/** How the `tags` field of GET /v2/cloudimages shows key/value tags: `key=value`, `key.value`, or not at all (`[]`). */
export type ListTagsStyle = 'k=v' | 'k.v' | 'none';
export type ObsErrorsMode = 'job' | 'sync';
export type UnknownIdStatus = 404 | 400;
export type MinDiskBounds = 'legacy' | 'current';
export type RealismPreset = 'kind' | 'strict';

export interface Realism {
  /** Seconds after its import is accepted before an image is listed and found by the tag query. */
  readonly listingLagSeconds: number;
  readonly listTags: ListTagsStyle;
  /** Seconds a deleted image stays listed, and its quota used, before it is gone. */
  readonly deleteLagSeconds: number;
  /** OBS problems fail the job (`job`) or refuse the POST with 400 (`sync`). */
  readonly obsErrors: ObsErrorsMode;
  /** The status of IMG.0027 for an unknown job or image id. */
  readonly unknownId: UnknownIdStatus;
  /** PATCH `add` of an attribute the image has is IMG.0035 (else it replaces the value). */
  readonly patchAddConflict: boolean;
  /** Import jobs allowed to run at once (IMG.0194 beyond). */
  readonly maxConcurrentImports: number;
  /** min_disk of a system image: 1–1024 GB (`legacy`), or Linux 10–1024 and Windows 20–1024 (`current`). */
  readonly minDiskBounds: MinDiskBounds;
}

export const REALISM_PRESETS: Readonly<Record<RealismPreset, Realism>> = {
  kind: {
    listingLagSeconds: 0,
    listTags: 'k=v',
    deleteLagSeconds: 0,
    obsErrors: 'job',
    unknownId: 404,
    patchAddConflict: false,
    maxConcurrentImports: 20,
    minDiskBounds: 'legacy',
  },
  strict: {
    // Longer than the client's 30 s request timeout: "not found yet" must never read as "lost".
    listingLagSeconds: 40,
    listTags: 'none',
    deleteLagSeconds: 20,
    obsErrors: 'sync',
    unknownId: 400,
    patchAddConflict: true,
    maxConcurrentImports: 5,
    minDiskBounds: 'current',
  },
};

export const LIST_TAGS_STYLES: readonly ListTagsStyle[] = ['k=v', 'k.v', 'none'];
export const OBS_ERRORS_MODES: readonly ObsErrorsMode[] = ['job', 'sync'];
export const UNKNOWN_ID_STATUSES: readonly UnknownIdStatus[] = [404, 400];
export const MIN_DISK_BOUNDS: readonly MinDiskBounds[] = ['legacy', 'current'];
export const REALISM_PRESET_NAMES: readonly RealismPreset[] = ['kind', 'strict'];

/** Switches given explicitly; undefined is not given. */
export type RealismOverrides = { readonly [K in keyof Realism]?: Realism[K] | undefined };

/** The preset's settings with each given switch in place of the preset's; checks every value. */
export function resolveRealism(preset: RealismPreset = 'kind', overrides: RealismOverrides = {}): Realism {
  const base = REALISM_PRESETS[preset] as Realism | undefined;
  if (base === undefined)
    throw new Error(`realism must be ${REALISM_PRESET_NAMES.join(' or ')}, not ${String(preset)}`);
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const realism: Realism = { ...base, ...given };
  const seconds = (name: string, value: number) => {
    if (!(Number.isFinite(value) && value >= 0)) throw new Error(`${name} must be zero or more seconds, not ${value}`);
  };
  seconds('listingLagSeconds', realism.listingLagSeconds);
  seconds('deleteLagSeconds', realism.deleteLagSeconds);
  oneOf('listTags', realism.listTags, LIST_TAGS_STYLES);
  oneOf('obsErrors', realism.obsErrors, OBS_ERRORS_MODES);
  oneOf('unknownId', realism.unknownId, UNKNOWN_ID_STATUSES);
  oneOf('minDiskBounds', realism.minDiskBounds, MIN_DISK_BOUNDS);
  if (typeof realism.patchAddConflict !== 'boolean') throw new Error('patchAddConflict must be true or false');
  if (!(Number.isSafeInteger(realism.maxConcurrentImports) && realism.maxConcurrentImports >= 0)) {
    throw new Error(`maxConcurrentImports must be a whole number, not ${realism.maxConcurrentImports}`);
  }
  return realism;
}

function oneOf<T>(name: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value)) {
    throw new Error(`${name} must be ${allowed.map((v) => String(v)).join(', ')}; not ${String(value)}`);
  }
}

/** The settings in the CLI's words (`listing-lag 40s`), for the start-up banner. */
export function describeRealism(realism: Realism): string[] {
  return [
    `listing-lag ${realism.listingLagSeconds}s`,
    `list-tags ${realism.listTags}`,
    `delete-lag ${realism.deleteLagSeconds}s`,
    `obs-errors ${realism.obsErrors}`,
    `unknown-id ${realism.unknownId}`,
    `patch-add-conflict ${realism.patchAddConflict ? 'on' : 'off'}`,
    `max-concurrent-imports ${realism.maxConcurrentImports}`,
    `min-disk-bounds ${realism.minDiskBounds}`,
  ];
}

/** The switches whose value differs from the preset's. */
export function overriddenSwitches(preset: RealismPreset, realism: Realism): (keyof Realism)[] {
  return (Object.keys(realism) as (keyof Realism)[]).filter((key) => REALISM_PRESETS[preset][key] !== realism[key]);
}
