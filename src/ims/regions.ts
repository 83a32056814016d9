// Where each region's IMS and IAM are, as Huawei Cloud's SDKs find them, and what a user gives
// instead: IMSYNC_ENDPOINTS (region -> IMS endpoint), IMSYNC_IAM_ENDPOINT, and IMSYNC_PROJECTS
// (region -> project id, for token authentication or an IAM user that may not list projects).
import { OriginError, parseOrigin } from '../origin.js';
import { excerpt } from '../text.js';

const REGION = /^[a-z]+(-[a-z]+)*-[0-9]+$/;
/** The rule HW_PROJECT_ID is held to: 32 hex digits in every account seen, a short token at most. */
const PROJECT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const IMS_EXAMPLE = 'https://ims.ap-southeast-1.myhuaweicloud.com';
const IAM_EXAMPLE = 'https://iam.myhuaweicloud.com';

/** The IAM endpoint of every region without one of its own. */
export const GLOBAL_IAM_ENDPOINT = 'https://iam.myhuaweicloud.com';

/**
 * Regions with an IAM endpoint of their own, `https://iam.{region}.myhuaweicloud.com`, in the
 * tables of Huawei's Go and Python SDKs (the same 27 regions in both):
 * huaweicloud-sdk-go-v3 core/auth/internal/iam_endpoint.go at 1cd70eb6f730ea721771a6ec8d96352bbb801787,
 * read by GetIamEndpointById (core/auth/internal/iam_helper.go), and huaweicloud-sdk-python-v3
 * huaweicloud-sdk-core/huaweicloudsdkcore/auth/endpoint.py at 343a486b5c8ab656611159f314df6e575d0f6398.
 * Both SDKs ask the global endpoint for any other region. (The Node SDK core, 3.1.211, always asks
 * the global one.)
 */
const REGIONAL_IAM = new Set([
  'ae-ad-1',
  'af-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'cn-east-2',
  'cn-east-3',
  'cn-east-4',
  'cn-east-5',
  'cn-north-1',
  'cn-north-2',
  'cn-north-4',
  'cn-north-9',
  'cn-north-12',
  'cn-south-1',
  'cn-south-2',
  'cn-southwest-2',
  'eu-west-0',
  'la-north-2',
  'la-south-2',
  'me-east-1',
  'my-kualalumpur-1',
  'na-mexico-1',
  'ru-moscow-1',
  'sa-brazil-1',
  'tr-west-1',
]);

/** A setting that cannot be used. The message names where it came from and never quotes a URL. */
export class SettingError extends Error {
  override readonly name = 'SettingError';
}

export function isRegionName(text: string): boolean {
  return REGION.test(text);
}

export function isProjectId(text: string): boolean {
  return PROJECT_ID.test(text);
}

/**
 * The IMS endpoint (an origin) of a region: the user's own for it in `overrides`, else
 * `https://ims.{region}.myhuaweicloud.com`. Huawei's SDK tables have no region elsewhere: all 33
 * regions of huaweicloud-sdk-go-v3 services/ims/v2/region/region.go at
 * 1cd70eb6f730ea721771a6ec8d96352bbb801787 and of huaweicloud-sdk-python-v3
 * huaweicloud-sdk-ims/huaweicloudsdkims/v2/region/ims_region.py at
 * 343a486b5c8ab656611159f314df6e575d0f6398 follow that form, eu-west-101 and ae-ad-1 included (the
 * Python table had eu-west-101 on myhuaweicloud.eu until release 3.1.88). A partner cloud (G42,
 * Vodafone) or a private deployment is given in `overrides`.
 */
export function imsEndpoint(region: string, overrides?: ReadonlyMap<string, string>): string {
  assertRegionName(region);
  return overrides?.get(region) ?? `https://ims.${region}.myhuaweicloud.com`;
}

/** The IAM endpoint to ask about a region: `override` (IMSYNC_IAM_ENDPOINT), else as Huawei's SDKs choose. */
export function iamEndpoint(region: string, override?: string): string {
  assertRegionName(region);
  if (override !== undefined) return override;
  return REGIONAL_IAM.has(region) ? `https://iam.${region}.myhuaweicloud.com` : GLOBAL_IAM_ENDPOINT;
}

/** The origin `text` names (IMSYNC_IAM_ENDPOINT's value), or a SettingError naming `origin`. */
export function parseIamEndpoint(text: string, origin: string): string {
  return checkedOrigin(text, 'IAM', IAM_EXAMPLE, origin);
}

/**
 * `region=URL,region=URL` (IMSYNC_ENDPOINTS) as a map of region to IMS origin; white space around
 * entries is ignored. Throws a SettingError naming `origin` and the entry at fault.
 */
export function parseEndpointMap(text: string, origin: string): ReadonlyMap<string, string> {
  return parseRegionMap(
    text,
    origin,
    `region=URL pairs separated by commas, such as ap-southeast-1=${IMS_EXAMPLE}`,
    (value, where) => checkedOrigin(value, 'IMS', IMS_EXAMPLE, where),
  );
}

/**
 * `region=project-id,...` (IMSYNC_PROJECTS) as a map of region to project id. Throws a SettingError
 * naming `origin` and the entry at fault.
 */
export function parseProjectMap(text: string, origin: string): ReadonlyMap<string, string> {
  const shape = 'region=project-id pairs separated by commas, such as ap-southeast-1=0123456789abcdef0123456789abcdef';
  return parseRegionMap(text, origin, shape, (value, where) => {
    if (!PROJECT_ID.test(value)) {
      throw new SettingError(`${where} is not a project id (letters, digits, '-' and '_', at most 64)`);
    }
    return value;
  });
}

function parseRegionMap(
  text: string,
  origin: string,
  /** What to give, completing "give ...". */
  pairs: string,
  parseValue: (value: string, where: string) => string,
): ReadonlyMap<string, string> {
  const shape = `give ${pairs}`;
  if (text.trim() === '') throw new SettingError(`${origin} is empty; ${shape}`);
  const map = new Map<string, string>();
  text.split(',').forEach((raw, index) => {
    const entry = raw.trim();
    const where = `${origin} entry ${index + 1}`;
    if (entry === '') throw new SettingError(`${where} is empty (a comma too many?); ${shape}`);
    const eq = entry.indexOf('=');
    if (eq < 0) throw new SettingError(`${where} has no '='; ${shape}`);
    const region = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    if (!isRegionName(region)) {
      // Quoted only when it cannot be part of a URL with a password (a region left out).
      const quoted = /^[\w.-]{1,64}$/.test(region) ? ` "${region}"` : '';
      throw new SettingError(`${where}:${quoted} before '=' is not a region name such as ap-southeast-1`);
    }
    if (map.has(region)) throw new SettingError(`${where}: ${region} is given twice`);
    if (value === '') throw new SettingError(`${where} (${region}) has nothing after '='; ${shape}`);
    map.set(region, parseValue(value, `${where} (${region})`));
  });
  return map;
}

function checkedOrigin(text: string, service: string, example: string, where: string): string {
  try {
    return parseOrigin(text, service, example).origin;
  } catch (error) {
    if (error instanceof OriginError) throw new SettingError(`${where} ${error.message}`);
    throw error;
  }
}

/** Throws for a text that is no region name (and so could make another host of an endpoint). */
export function assertRegionName(region: string): void {
  if (!isRegionName(region)) throw new Error(`"${excerpt(region, 100)}" is not a region name such as ap-southeast-1`);
}
