// The IMS API routes the emulator serves (research/ims-api.md §2–§11), each a function of the
// request to an answer. Failures are thrown as ImsFailure and answered by the server.
import type { ImageStore } from './images.js';
import { listImages } from './list.js';
import { OS_PLATFORMS } from './os-versions.js';
import type { Realism } from './realism.js';
import { queryByTags } from './tag-query.js';
import { validateQuickImport, validateTagBody, validateTagQuery, validateTagsAction } from './validate.js';

export interface ApiCall {
  /** Path parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: Buffer;
  /** `http://{Host}`, as the request named the server: the base of links in answers. */
  readonly origin: string;
}

export interface ApiAnswer {
  readonly status: number;
  /** JSON; none for 204. */
  readonly body?: unknown;
}

export interface Route {
  readonly method: string;
  /** Path segments; `{name}` is a parameter. A `{project_id}` must be the caller's project. */
  readonly segments: readonly string[];
  /** The request log keeps the body of this route's requests. */
  readonly logBody?: boolean;
  readonly handle: (call: ApiCall) => ApiAnswer;
}

const NO_CONTENT: ApiAnswer = { status: 204 };

export function apiRoutes(store: ImageStore, realism: Pick<Realism, 'minDiskBounds'>): Route[] {
  const quickImport = ({ body }: ApiCall): ApiAnswer => ({
    status: 200,
    body: { job_id: store.submit(validateQuickImport(body, { minDiskBounds: realism.minDiskBounds })) },
  });
  const quota = (): ApiAnswer => ({ status: 200, body: { quotas: { resources: [store.quota()] } } });
  const route = (method: string, path: string, handle: Route['handle'], logBody = false): Route => ({
    method,
    segments: path.split('/').slice(1),
    handle,
    logBody,
  });
  return [
    route('POST', '/v2/cloudimages/quickimport/action', quickImport, true),
    // The "(New)" variant takes the same body; its differences are not documented.
    route('POST', '/v2.1/cloudimages/quickimport/action', quickImport, true),
    route('GET', '/v1/{project_id}/jobs/{job_id}', ({ params }) => {
      const job = store.job(params.job_id ?? '');
      // The docs do not say what an unknown job gives: an IMS body reusing IMG.0027, 404 (kind) or
      // 400 as the error table lists IMG.0027 (realism unknownId).
      if (job === undefined) throw store.unknownId(undefined, 'The job ID in the request does not exist.');
      return { status: 200, body: job };
    }),
    // ShowJobProgress (research/ims-api.md §3.2): the job, with its percent and current task.
    route('GET', '/v1/cloudimages/job/{job_id}', ({ params }) => {
      const job = store.jobProgress(params.job_id ?? '');
      if (job === undefined) throw store.unknownId(undefined, 'The job ID in the request does not exist.');
      return { status: 200, body: job };
    }),
    route('GET', '/v2/cloudimages', ({ query }) => ({
      status: 200,
      body: {
        images: listImages(
          () => store.list(),
          (id) => store.find(id),
          query,
        ),
      },
    })),
    route('PATCH', '/v2/cloudimages/{image_id}', ({ params, body }) => ({
      status: 200,
      body: store.update(params.image_id ?? '', body),
    })),
    route('DELETE', '/v2/images/{image_id}', ({ params }) => {
      store.delete(params.image_id ?? '');
      return NO_CONTENT;
    }),
    route('POST', '/v2/{project_id}/images/{image_id}/tags/action', ({ params, body }) => {
      const { action, tags } = validateTagsAction(body);
      const id = params.image_id ?? '';
      const keys = tags.map(({ key }) => key);
      if (action === 'create') store.addTags(id, tags);
      else store.removeTags(id, keys);
      return NO_CONTENT;
    }),
    route('POST', '/v2/{project_id}/images/{image_id}/tags', ({ params, body }) => {
      store.addTags(params.image_id ?? '', [validateTagBody(body)]);
      return NO_CONTENT;
    }),
    route('DELETE', '/v2/{project_id}/images/{image_id}/tags/{key}', ({ params }) => {
      store.removeTag(params.image_id ?? '', params.key ?? '');
      return NO_CONTENT;
    }),
    route('GET', '/v2/{project_id}/images/{image_id}/tags', ({ params }) => ({
      status: 200,
      body: { tags: store.tags(params.image_id ?? '') },
    })),
    route('GET', '/v2/{project_id}/images/tags', () => ({ status: 200, body: { tags: store.projectTags() } })),
    route('POST', '/v2/{project_id}/images/resource_instances/action', ({ body }) => ({
      status: 200,
      body: queryByTags(store, validateTagQuery(body)),
    })),
    route('GET', '/v1/cloudimages/quota', quota),
    route('GET', '/v1/{project_id}/cloudimages/quota', quota),
    route('GET', '/v1/cloudimages/os_version', () => ({ status: 200, body: OS_PLATFORMS })),
  ];
}

/** The route for a method and decoded path segments, with its parameters. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  segments: readonly string[],
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.method !== method || route.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = route.segments.every((pattern, i) => {
      const segment = segments[i] ?? '';
      if (pattern.startsWith('{')) {
        params[pattern.slice(1, -1)] = segment;
        return segment !== '';
      }
      return pattern === segment;
    });
    if (fits) return { route, params };
  }
  return undefined;
}
