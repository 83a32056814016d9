// IAM on iam.localhost: KeystoneListProjects (GET /v3/projects), which clients call to learn a
// region's project id from its name (Huawei's SDKs send `?name={region}` and take the one project
// answered). The answer follows Huawei's API reference, "Querying Project Information -
// KeystoneListProjects" (support.huaweicloud.com/intl/en-us/api-iam/iam_06_0001.html): `links`
// {self, previous, next} and `projects`, each {id, name, domain_id, parent_id, enabled, is_domain,
// description, links {self}}; a region's project has the account (domain) as its parent, a
// sub-project its region's project. The filters match exactly, as Keystone's do: `name=ap-southeast-1`
// lists that region's project and not `ap-southeast-1_sub`. Authentication and faults are the
// gateway's, as for IMS (http.ts); an injected error is in IAM's own (Keystone's) error shape.
import { STATUS_CODES } from 'node:http';
import { derivedId } from './regions.js';
import type { ApiAnswer, ApiCall, Route } from './routes.js';

export interface IamProject {
  readonly id: string;
  readonly name: string;
  readonly domainId: string;
  readonly parentId: string;
}

/**
 * The filters of GET /v3/projects, each whether a project matches the value asked for; page and
 * per_page are ignored (one page holds every project).
 */
const FILTERS: Readonly<Record<string, (project: IamProject, wanted: string) => boolean>> = {
  name: (project, wanted) => project.name === wanted,
  domain_id: (project, wanted) => project.domainId === wanted,
  parent_id: (project, wanted) => project.parentId === wanted,
  // Every project is enabled, and none is a domain.
  enabled: (_, wanted) => wanted.toLowerCase() === 'true',
  is_domain: (_, wanted) => wanted.toLowerCase() === 'false',
};

/**
 * The account's projects: each served region's, and beside each a sub-project `{region}_sub`. The
 * account (domain) id and the sub-projects' ids are derived from the account's project id, so that
 * they stay the same run after run.
 */
export function accountProjects(
  regions: readonly { readonly region: string; readonly projectId: string }[],
  accountProjectId: string,
): IamProject[] {
  const domainId = derivedId(accountProjectId, 'domain');
  return regions.flatMap(({ region, projectId }) => [
    { id: projectId, name: region, domainId, parentId: domainId },
    { id: derivedId(accountProjectId, `${region}_sub`), name: `${region}_sub`, domainId, parentId: projectId },
  ]);
}

/** IAM's own error body, Keystone's: `{"error":{"code","message","title"}}`. */
export function keystoneError(
  status: number,
  message: string,
): { error: { code: number; message: string; title: string } } {
  return { error: { code: status, message, title: STATUS_CODES[status] ?? 'Error' } };
}

export function iamRoutes(projects: readonly IamProject[]): Route[] {
  return [{ method: 'GET', segments: ['v3', 'projects'], handle: (call) => listProjects(projects, call) }];
}

function listProjects(projects: readonly IamProject[], { query, origin }: ApiCall): ApiAnswer {
  const asked = Object.entries(FILTERS).flatMap(([name, matches]) => {
    const wanted = query.get(name);
    return wanted === null ? [] : [(project: IamProject) => matches(project, wanted)];
  });
  const search = query.toString();
  return {
    status: 200,
    body: {
      links: { self: `${origin}/v3/projects${search === '' ? '' : `?${search}`}`, previous: null, next: null },
      projects: projects
        .filter((project) => asked.every((matches) => matches(project)))
        .map((project) => ({
          id: project.id,
          name: project.name,
          domain_id: project.domainId,
          parent_id: project.parentId,
          enabled: true,
          is_domain: false,
          description: '',
          links: { self: `${origin}/v3/projects/${project.id}` },
        })),
    },
  };
}
