// /__emulator/: what the emulator holds and was asked, for tests and for people; no auth, no
// faults, not logged, never down, apart from the API's paths so that no client mistakes it for IMS.
// A change (a reset, an upload, a region taken down) needs a header no HTML form can send (and no
// other site's script may add without a CORS preflight, which the emulator never grants), so that a
// web page cannot change it. With several regions, images and jobs are a region's: `?region=`, else
// the region of the host asked (ims.{region}.localhost), else the default region; the request log
// holds every region's, and `?region=` keeps one region's.
import type { IncomingHttpHeaders } from 'node:http';
import type { FaultInjector } from './faults.js';
import { parseObsEntry, type Obs } from './obs.js';
import { overriddenSwitches, type Realism, type RealismPreset } from './realism.js';
import type { RequestLog } from './log.js';
import type { Regions, RegionWorld } from './regions.js';
import type { ApiAnswer } from './routes.js';

/** The header a change needs (any value; `1` by convention). */
const CHANGE_HEADER = 'x-imsync-emulator';

export interface InspectCall {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The region the request's host names (ims.{region}.localhost), if any. */
  readonly region: string | undefined;
}

const ROUTES =
  'GET /__emulator/requests, GET /__emulator/images, GET /__emulator/jobs (each with ?region=), GET /__emulator/regions, ' +
  'POST /__emulator/regions/{region}/down and /up, GET /__emulator/realism, GET and PUT /__emulator/objects and POST /__emulator/reset';

export function inspection(
  regions: Regions,
  log: RequestLog,
  faults: readonly FaultInjector[],
  obs: Obs,
  realism: { readonly preset: RealismPreset; readonly settings: Realism },
) {
  return ({ method, path, query, headers, body, region: hostRegion }: InspectCall): ApiAnswer => {
    const route = `${method} ${path}`;
    const refused = (what: string): ApiAnswer => ({
      status: 403,
      body: { error: `${what} needs the header X-Imsync-Emulator: 1` },
    });
    /** The answer about a region, or 404 for one not served; the default region when none is named. */
    const inRegion = (name: string | undefined, answer: (world: RegionWorld) => ApiAnswer): ApiAnswer => {
      const world = name === undefined ? regions.default : regions.get(name);
      if (world !== undefined) return answer(world);
      return { status: 404, body: { error: `no region ${name}: the emulator serves ${regions.names().join(', ')}` } };
    };
    const asked = query.get('region') ?? undefined;

    const switched = /^POST \/__emulator\/regions\/([^/]+)\/(down|up)$/.exec(route);
    if (switched !== null) {
      if (headers[CHANGE_HEADER] === undefined) return refused(route);
      const [, name, state] = switched;
      return inRegion(name, (world) => {
        regions.setDown(world.region, state === 'down');
        return { status: 204 };
      });
    }
    switch (route) {
      case 'GET /__emulator/requests':
        return inRegion(asked, (world) => {
          // With one region, entries name none: they are all its own.
          const kept =
            asked === undefined || !regions.several
              ? log.all()
              : log.all().filter((entry) => entry.region === world.region);
          return { status: 200, body: { requests: kept } };
        });
      // Every image, listed yet or not (listing lag), tags as key=value; apart, deleted images still listed.
      case 'GET /__emulator/images':
        return inRegion(asked ?? hostRegion, (world) => ({ status: 200, body: world.store.snapshot() }));
      case 'GET /__emulator/jobs':
        return inRegion(asked ?? hostRegion, (world) => ({ status: 200, body: { jobs: world.store.jobList() } }));
      case 'GET /__emulator/regions':
        return {
          status: 200,
          body: {
            regions: regions.all().map((world, index) => ({
              region: world.region,
              project_id: world.projectId,
              default: index === 0,
              down: regions.isDown(world.region),
            })),
          },
        };
      case 'GET /__emulator/realism':
        return {
          status: 200,
          body: {
            preset: realism.preset,
            settings: realism.settings,
            overridden: overriddenSwitches(realism.preset, realism.settings),
          },
        };
      // The simulated OBS beyond the default world (when it is one): buckets, and objects with their ETags.
      case 'GET /__emulator/objects':
        return { status: 200, body: obs.snapshot() };
      // Uploads an object (a new ETag, also for a key that exists: a re-upload) or declares a bucket.
      case 'PUT /__emulator/objects':
        if (headers[CHANGE_HEADER] === undefined) return refused(route);
        return putObject(obs, body);
      // Every region, back to how it started. Image ids keep counting through a reset, so ids from
      // before it never come back; so do uploads, so that an ETag from before it never comes back either.
      case 'POST /__emulator/reset':
        if (headers[CHANGE_HEADER] === undefined) return refused(route);
        for (const world of regions.all()) world.store.clear();
        regions.reset();
        log.clear();
        for (const injector of faults) injector.reset();
        obs.reset();
        return { status: 204 };
      default:
        return { status: 404, body: { error: `no inspection route ${route}; there are ${ROUTES}` } };
    }
  };
}

/** PUT /__emulator/objects: one entry as in an --objects file, answered with what OBS now holds for it. */
function putObject(obs: Obs, body: Buffer): ApiAnswer {
  try {
    const stored = obs.put(parseObsEntry(JSON.parse(body.toString('utf8')) as unknown, 'the entry'));
    return { status: 200, body: 'key' in stored ? obs.view(stored) : stored };
  } catch (error) {
    const why = error instanceof SyntaxError ? `not valid JSON: ${error.message}` : (error as Error).message;
    return { status: 400, body: { error: `PUT /__emulator/objects: ${why}` } };
  }
}
