// Where OBS is for a region, and the host of one bucket there. OBS is addressed virtual-hosted
// ({bucket}.{endpoint}): path style can be refused with 403 VirtualHostDomainRequired
// (research/obs-preflight.md §1.1).
import { assertRegionName } from '../ims/regions.js';
import { OriginError, parseOrigin } from '../origin.js';
import { isIP } from 'node:net';
import { excerpt } from '../text.js';

const EXAMPLE = 'https://obs.ap-southeast-1.myhuaweicloud.com';

/**
 * Regions whose OBS is not under myhuaweicloud.com (research/obs-preflight.md §1.1): EU-Dublin,
 * https://support.huaweicloud.com/eu/qs-obs/obs_qs_0006.html; the G42 and Vodafone partner clouds,
 * https://support.huaweicloud.com/intl/en-us/ae-ad-1-usermanual-obs/obs_03_0152.html and
 * https://support.huaweicloud.com/intl/en-us/tr-central-201-api-obs/obs_04_0003.html.
 */
const ENDPOINT_EXCEPTIONS: Readonly<Record<string, string>> = {
  'eu-west-101': 'https://obs.eu-west-101.myhuaweicloud.eu',
  'ae-ad-1': 'https://obs.ae-ad-1.g42cloud.com',
  'tr-central-201': 'https://obs.tr-central-201.hc.vodafone.com.tr',
};

/**
 * An endpoint override that cannot be used. The message completes a sentence that starts with
 * where the value came from (a flag, a variable), and never quotes the value, which may hold a
 * password.
 */
/**
 * The OBS endpoint of a region: `override` when given (an http(s) URL of scheme, host and port
 * only), else the region's own. Throws OriginError for an override that cannot be used.
 */
export function obsEndpoint(region: string, override?: string): URL {
  if (override !== undefined) return checkedOverride(override);
  assertRegionName(region);
  return new URL(ENDPOINT_EXCEPTIONS[region] ?? `https://obs.${region}.myhuaweicloud.com`);
}

function checkedOverride(given: string): URL {
  const url = parseOrigin(given, 'OBS', EXAMPLE);
  if (isIP(url.hostname.replace(/^\[(.*)\]$/, '$1')) !== 0) {
    throw new OriginError(
      'is an IP address; buckets are addressed by name ({bucket}.{endpoint host}), which takes a host name (for a server on this machine, obs.localhost)',
    );
  }
  // The most common mistake with OBS endpoints: the bucket's own host given as the endpoint.
  const bucket = /^([^.]+)\.obs\.[a-z]+(-[a-z]+)*-[0-9]+\./.exec(url.hostname)?.[1];
  if (bucket !== undefined) {
    throw new OriginError(
      `starts with a bucket name (${bucket}.); give the regional endpoint without it, such as ${EXAMPLE}`,
    );
  }
  return new URL(url.origin);
}

/**
 * Why `name` is not an OBS bucket name, or undefined when it is one: 3 to 63 lower-case letters,
 * digits, '-' and '.', starting and ending with a letter or digit, no '..', '.-' or '-.', and not
 * an IP address (the OBS naming rules).
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'a bucket name has 3 to 63 characters';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return "a bucket name has lower-case letters, digits, '-' and '.' only, and starts and ends with a letter or digit";
  }
  if (/\.\.|\.-|-\./.test(name)) return "a bucket name has no '..', '.-' or '-.'";
  if (isIP(name) !== 0) return 'a bucket name is not an IP address';
  return undefined;
}

/** The origin of a bucket: `{scheme}://{bucket}.{endpoint host}[:port]`. Throws for a name no bucket has. */
export function bucketOrigin(endpoint: URL, bucket: string): URL {
  const problem = bucketNameProblem(bucket);
  if (problem !== undefined) throw new Error(`"${excerpt(bucket, 100)}" is not an OBS bucket name: ${problem}`);
  return new URL(`${endpoint.protocol}//${bucket}.${endpoint.host}`);
}
