// Several regions on one port. Each region is a world of its own (images, jobs, quota, the
// concurrent-import cap, faults, request ids and its project) behind its own host names:
// ims.{region}.localhost for IMS and obs.{region}.localhost for its OBS. A host that names no
// region (127.0.0.1:PORT, localhost:PORT, obs.localhost) is the default (first) region's, so that
// an emulator serving one region answers exactly as it always did. iam.localhost is IAM, global as
// IAM is. Names under .localhost are loopback (RFC 6761 §6.3): clients resolve them to 127.0.0.1.
import { createHash } from 'node:crypto';
import type { AuthConfig } from './auth.js';
import type { FaultInjector } from './faults.js';
import type { ImageStore } from './images.js';
import { obsHost, type ObsHost } from './obs-routes.js';
import type { IdSource } from './random.js';
import type { Route } from './routes.js';

/** A region name as Huawei Cloud spells them: ap-southeast-1, eu-west-101, cn-north-4. */
const REGION_NAME = /^[a-z]+(-[a-z]+)*-[0-9]+$/;

export const IAM_DOMAIN = 'iam.localhost';

/** The host name of a region's IMS. */
export function imsDomain(region: string): string {
  return `ims.${region}.localhost`;
}

/** One service's gateway: its routes, who may call it, its faults and its request ids. */
export interface GatewayParts {
  readonly routes: readonly Route[];
  readonly faults: FaultInjector;
  readonly auth: AuthConfig;
  readonly requestIds: IdSource;
}

/** One region: its IMS behind its gateway, its images, and its OBS endpoint's faults and request ids. */
export interface RegionWorld extends GatewayParts {
  readonly region: string;
  readonly projectId: string;
  readonly store: ImageStore;
  readonly obs: { readonly faults: FaultInjector; readonly requestIds: IdSource };
}

/** What a request's Host header addresses; `region` undefined is the default region. */
export type Addressed =
  | { readonly service: 'ims'; readonly region: string | undefined }
  | { readonly service: 'obs'; readonly region: string | undefined; readonly host: ObsHost }
  | { readonly service: 'iam' };

/** The service and region a Host header names; any host that names none is the default region's IMS. */
export function addressOf(host: string | undefined): Addressed {
  const name = (host ?? '').replace(/:\d*$/, '').replace(/\.$/, '').toLowerCase();
  if (name === IAM_DOMAIN) return { service: 'iam' };
  const obs = obsHost(name);
  if (obs !== undefined) return { service: 'obs', region: obs.region, host: obs };
  const region = /^ims\.([^.]+)\.localhost$/.exec(name)?.[1];
  return { service: 'ims', region };
}

/**
 * The regions served, the default first, and which of them are down. A region that is down drops
 * every connection to its hosts (see http.ts); the inspection routes switch it.
 */
export class Regions {
  readonly default: RegionWorld;
  /** More than one region is served: log entries then say which each request went to. */
  readonly several: boolean;
  private readonly worlds: ReadonlyMap<string, RegionWorld>;
  private down: Set<string>;

  constructor(
    worlds: readonly RegionWorld[],
    private readonly initiallyDown: readonly string[] = [],
  ) {
    const [first] = worlds;
    if (first === undefined) throw new Error('the emulator serves at least one region');
    this.default = first;
    this.several = worlds.length > 1;
    this.worlds = new Map(worlds.map((world) => [world.region, world]));
    this.down = new Set(initiallyDown);
  }

  get(region: string): RegionWorld | undefined {
    return this.worlds.get(region);
  }

  all(): RegionWorld[] {
    return [...this.worlds.values()];
  }

  names(): string[] {
    return [...this.worlds.keys()];
  }

  /** The served region whose project `projectId` is, if any. */
  ofProject(projectId: string): RegionWorld | undefined {
    return this.all().find((world) => world.projectId === projectId);
  }

  isDown(region: string): boolean {
    return this.down.has(region);
  }

  setDown(region: string, down: boolean): void {
    if (down) this.down.add(region);
    else this.down.delete(region);
  }

  /** Back to the regions down at the start. */
  reset(): void {
    this.down = new Set(this.initiallyDown);
  }
}

/**
 * The checked list of regions: names as Huawei spells them, each once, the default first. Throws
 * naming the bad one.
 */
export function checkRegions(regions: readonly string[], down: readonly string[]): void {
  if (regions.length === 0) throw new Error('regions must name at least one region');
  const seen = new Set<string>();
  for (const region of regions) {
    if (!REGION_NAME.test(region)) throw new Error(`"${region}" is not a region name such as ap-southeast-1`);
    if (seen.has(region)) throw new Error(`region ${region} is given twice`);
    seen.add(region);
  }
  for (const region of down) {
    if (!seen.has(region))
      throw new Error(`region ${region} cannot be down: the emulator serves ${regions.join(', ')}`);
  }
}

/**
 * A project id (32 hex) that stays the same run after run for the same account and name: the
 * default region's is the account's configured one, every other one derived from it, so that a
 * state recording project ids per region keeps matching the emulator across restarts.
 */
export function derivedId(accountProjectId: string, name: string): string {
  return createHash('sha256').update(`${accountProjectId}/${name}`).digest('hex').slice(0, 32);
}

/** A seed of the region's own, so that its faults and ids never shift another region's; the default region's is the seed. */
export function regionSeed(seed: number, region: string, isDefault: boolean): number {
  if (isDefault) return seed;
  return (seed ^ createHash('sha256').update(region).digest().readUInt32BE(0)) >>> 0;
}
