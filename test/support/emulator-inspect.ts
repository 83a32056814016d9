// What an emulator in its own process saw and holds, through its inspection API (/__emulator/).
import { ATTEMPT_TAG, KEY_TAG } from '../../src/ims/ownership.js';
import type { EmulatorProcess } from './emulator-process.js';

/** An image as GET /__emulator/images gives it. */
export interface EmulatorImage {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly tags: readonly string[];
  readonly __description?: string;
  readonly [field: string]: unknown;
}

/** An entry of GET /__emulator/requests. */
export interface LoggedRequest {
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly status: number | null;
  readonly fault?: string;
  readonly body?: unknown;
}

export async function emulatorImages(emulator: EmulatorProcess): Promise<EmulatorImage[]> {
  const response = await fetch(`${emulator.url}/__emulator/images`);
  return ((await response.json()) as { images: EmulatorImage[] }).images;
}

export async function emulatorRequests(emulator: EmulatorProcess): Promise<LoggedRequest[]> {
  const response = await fetch(`${emulator.url}/__emulator/requests`);
  return ((await response.json()) as { requests: LoggedRequest[] }).requests;
}

/** Forgets every image, job and logged request (POST /__emulator/reset). */
export async function emulatorReset(emulator: EmulatorProcess): Promise<void> {
  const response = await fetch(`${emulator.url}/__emulator/reset`, {
    method: 'POST',
    headers: { 'x-imsync-emulator': '1' },
  });
  await response.arrayBuffer();
  if (response.status !== 204) throw new Error(`POST /__emulator/reset answered ${response.status}`);
}

/** A job as GET /__emulator/jobs gives it. */
export interface EmulatorJob {
  readonly job_id: string;
  readonly status: string;
  readonly error_code: string | null;
  readonly entities: { readonly image_id?: string };
}

export async function emulatorJobs(emulator: EmulatorProcess): Promise<EmulatorJob[]> {
  const response = await fetch(`${emulator.url}/__emulator/jobs`);
  return ((await response.json()) as { jobs: EmulatorJob[] }).jobs;
}

export function tagValue(image: EmulatorImage, key: string): string | undefined {
  const prefix = `${key}=`;
  return image.tags.find((tag) => tag.startsWith(prefix))?.slice(prefix.length);
}

/** Images by their imsync-key tag. */
export function imagesByKey(images: readonly EmulatorImage[]): Map<string, EmulatorImage[]> {
  const byKey = new Map<string, EmulatorImage[]>();
  for (const image of images) {
    const key = tagValue(image, KEY_TAG);
    if (key !== undefined) byKey.set(key, [...(byKey.get(key) ?? []), image]);
  }
  return byKey;
}

/** A quick-import POST the emulator received, with the ownership tags of its body. */
export interface ImportPost {
  readonly time: string;
  readonly key: string | undefined;
  readonly attempt: string | undefined;
  readonly status: number | null;
  readonly fault: string | undefined;
}

export function isImportPost(request: LoggedRequest): boolean {
  return request.method === 'POST' && request.path.endsWith('/cloudimages/quickimport/action');
}

export function importPosts(requests: readonly LoggedRequest[]): ImportPost[] {
  return requests.filter(isImportPost).map((request) => {
    const tags = (request.body as { image_tags?: { key: string; value: string }[] } | undefined)?.image_tags ?? [];
    return {
      time: request.time,
      key: tags.find((tag) => tag.key === KEY_TAG)?.value,
      attempt: tags.find((tag) => tag.key === ATTEMPT_TAG)?.value,
      status: request.status,
      fault: request.fault,
    };
  });
}

export function countBy<T>(items: readonly T[], keyOf: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const key = keyOf(item);
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The client's name for the API operation of a logged request (the `route` label of the metrics). */
export function routeOf(request: Pick<LoggedRequest, 'method' | 'path'>): string {
  const { method, path } = request;
  if (isImportPost(request as LoggedRequest)) return 'quick_import';
  if (method === 'GET' && /^\/v1\/cloudimages\/job\/[^/]+$/.test(path)) return 'get_job_progress';
  if (method === 'GET' && /^\/v1\/[^/]+\/jobs\/[^/]+$/.test(path)) return 'get_job';
  if (method === 'GET' && path === '/v2/cloudimages') return 'list_images';
  if (method === 'PATCH' && /^\/v2\/cloudimages\/[^/]+$/.test(path)) return 'update_image';
  if (method === 'DELETE' && /^\/v2\/images\/[^/]+$/.test(path)) return 'delete_image';
  if (method === 'GET' && /^\/v2\/[^/]+\/images\/[^/]+\/tags$/.test(path)) return 'list_image_tags';
  if (method === 'POST' && /^\/v2\/[^/]+\/images\/resource_instances\/action$/.test(path)) return 'list_images_by_tag';
  if (method === 'POST' && /^\/v2\/[^/]+\/images\/[^/]+\/tags\/action$/.test(path)) return 'change_image_tags';
  if (method === 'POST' && /^\/v2\/[^/]+\/images\/[^/]+\/tags$/.test(path)) return 'add_image_tag';
  if (method === 'DELETE' && /^\/v2\/[^/]+\/images\/[^/]+\/tags\/[^/]+$/.test(path)) return 'delete_image_tag';
  return `${method} ${path}`;
}
