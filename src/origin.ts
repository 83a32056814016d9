// An endpoint given by the user (IMS's, OBS's): an http(s) origin, scheme, host and port only.
// The value is never quoted back: a URL may carry a password.

/** Why `given` is no such origin, completing a sentence that names where it came from. */
export class OriginError extends Error {
  override readonly name = 'OriginError';
}

/** The origin `given` names, or an OriginError; `service` and `example` word the message. */
export function parseOrigin(given: string, service: string, example: string): URL {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new OriginError(`is not a URL such as ${example}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OriginError('must be an http(s) URL');
  if (url.username || url.password) {
    throw new OriginError('must not carry credentials; use HW_ACCESS_KEY and HW_SECRET_KEY');
  }
  // Requests start at the host: a path, query or fragment would be dropped, not used.
  const extra =
    url.pathname !== '/'
      ? `a path (${url.pathname})`
      : url.search !== '' || given.includes('?')
        ? 'a query'
        : url.hash !== '' || given.includes('#')
          ? 'a fragment'
          : undefined;
  if (extra !== undefined) {
    throw new OriginError(
      `has ${extra}; ${service} endpoints have none: give the scheme, host and port only, such as ${example}`,
    );
  }
  return url;
}
