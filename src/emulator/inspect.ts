// /__emulator/: what the emulator holds and was asked, for tests and for people; no auth, no
// faults, not logged, apart from the API's paths so that no client mistakes it for IMS. A reset
// needs a header no HTML form can send (and no other site's script may add without a CORS
// preflight, which the emulator never grants), so that a web page cannot wipe it.
import type { IncomingHttpHeaders } from 'node:http';
import type { FaultInjector } from './faults.js';
import type { ImageStore } from './images.js';
import { overriddenSwitches, type Realism, type RealismPreset } from './realism.js';
import type { RequestLog } from './log.js';
import type { ApiAnswer } from './routes.js';

/** The header a reset needs (any value; `1` by convention). */
const RESET_HEADER = 'x-imsync-emulator';

export function inspection(
  store: ImageStore,
  log: RequestLog,
  faults: FaultInjector,
  realism: { readonly preset: RealismPreset; readonly settings: Realism },
) {
  return (method: string, path: string, headers: IncomingHttpHeaders): ApiAnswer => {
    const route = `${method} ${path}`;
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
      // Image ids keep counting through a reset, so ids from before it never come back.
      case 'POST /__emulator/reset':
        if (headers[RESET_HEADER] === undefined) {
          return { status: 403, body: { error: 'POST /__emulator/reset needs the header X-Imsync-Emulator: 1' } };
        }
        store.clear();
        log.clear();
        faults.reset();
        return { status: 204 };
      default:
        return {
          status: 404,
          body: {
            error: `no inspection route ${route}; there are GET /__emulator/requests, GET /__emulator/images, GET /__emulator/jobs, GET /__emulator/realism and POST /__emulator/reset`,
          },
        };
    }
  };
}
