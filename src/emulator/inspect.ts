// /__emulator/: what the emulator holds and was asked, for tests and for people; no auth, no
// faults, not logged, apart from the API's paths so that no client mistakes it for IMS. A reset
// or an upload needs a header no HTML form can send (and no other site's script may add without a
// CORS preflight, which the emulator never grants), so that a web page cannot change it.
import type { IncomingHttpHeaders } from 'node:http';
import type { FaultInjector } from './faults.js';
import type { ImageStore } from './images.js';
import { parseObsEntry, type Obs } from './obs.js';
import { overriddenSwitches, type Realism, type RealismPreset } from './realism.js';
import type { RequestLog } from './log.js';
import type { ApiAnswer } from './routes.js';

/** The header a change needs (any value; `1` by convention). */
const CHANGE_HEADER = 'x-imsync-emulator';

export function inspection(
  store: ImageStore,
  log: RequestLog,
  faults: readonly FaultInjector[],
  obs: Obs,
  realism: { readonly preset: RealismPreset; readonly settings: Realism },
) {
  return (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): ApiAnswer => {
    const route = `${method} ${path}`;
    const refused = (what: string): ApiAnswer => ({
      status: 403,
      body: { error: `${what} needs the header X-Imsync-Emulator: 1` },
    });
    switch (route) {
      case 'GET /__emulator/requests':
        return { status: 200, body: { requests: log.all() } };
      // Every image, listed yet or not (listing lag), tags as key=value; apart, deleted images still listed.
      case 'GET /__emulator/images':
        return { status: 200, body: store.snapshot() };
      case 'GET /__emulator/jobs':
        return { status: 200, body: { jobs: store.jobList() } };
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
      // Image ids keep counting through a reset, so ids from before it never come back; so do
      // uploads, so that an ETag from before it never comes back either.
      case 'POST /__emulator/reset':
        if (headers[CHANGE_HEADER] === undefined) return refused(route);
        store.clear();
        log.clear();
        for (const injector of faults) injector.reset();
        obs.reset();
        return { status: 204 };
      default:
        return {
          status: 404,
          body: {
            error: `no inspection route ${route}; there are GET /__emulator/requests, GET /__emulator/images, GET /__emulator/jobs, GET /__emulator/realism, GET and PUT /__emulator/objects and POST /__emulator/reset`,
          },
        };
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
