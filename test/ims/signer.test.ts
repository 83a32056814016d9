import { createHash } from 'node:crypto';
import { stringify } from 'node:querystring';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  sdkDate,
  signRequest,
  verifySignature,
  type Credentials,
  type ReceivedRequest,
  type SignableRequest,
  type Verification,
} from '../../src/ims/signer.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ZERO_SIGNATURE = '0'.repeat(64);

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** What node:http hands the server for a request sent with these headers: lower-case names, path + query as sent. */
function received(request: SignableRequest, headers: Record<string, string>): ReceivedRequest {
  return {
    method: request.method,
    rawUrl: request.url.pathname + request.url.search,
    headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
    body: Buffer.from(request.body),
  };
}

function withHeaders(request: ReceivedRequest, changes: Record<string, string | undefined>): ReceivedRequest {
  return { ...request, headers: { ...request.headers, ...changes } };
}

const secretsOf =
  (...credentials: Credentials[]) =>
  (accessKey: string): string | undefined =>
    credentials.find((c) => c.accessKey === accessKey)?.secretKey;

/** The canonical request verifySignature computes, obtained by presenting a signature that cannot match. */
function canonicalRequestOf(request: ReceivedRequest, accessKey: string, signedHeaders: string, now: Date): string {
  const authorization = `SDK-HMAC-SHA256 Access=${accessKey}, SignedHeaders=${signedHeaders}, Signature=${ZERO_SIGNATURE}`;
  const result = verifySignature(withHeaders(request, { authorization }), () => 'any secret', now);
  if (result.ok || result.canonicalRequest === undefined)
    throw new Error(`expected a mismatch, got ${JSON.stringify(result)}`);
  return result.canonicalRequest;
}

function sdkSign(
  request: {
    endpoint: string;
    method: string;
    headers: Record<string, string>;
    queryParams?: Record<string, unknown>;
    data?: unknown;
  },
  credentials: Credentials,
): Record<string, string> {
  const credential = new BasicCredentials().withAk(credentials.accessKey).withSk(credentials.secretKey);
  // Typed `{}`: every header passed, plus host (and X-Sdk-Date when absent) and Authorization.
  return AKSKSigner.sign({ queryParams: {}, ...request }, credential);
}

describe('sdkDate', () => {
  it('formats UTC as YYYYMMDDTHHmmssZ, dropping milliseconds', () => {
    expect(sdkDate(new Date('2019-11-15T03:36:55.789Z'))).toBe('20191115T033655Z');
    expect(sdkDate(new Date('2006-01-02T15:04:05+07:00'))).toBe('20060102T080405Z');
  });
});

describe('published test vectors', () => {
  it('TV1: the Signing Guide example', () => {
    const request: SignableRequest = {
      method: 'GET',
      url: new URL(
        'https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0',
      ),
      headers: { 'Content-Type': 'application/json' },
      body: '',
    };
    const credentials = { accessKey: 'QTWAOYTTINDUT2QVKYUC', secretKey: 'MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc' };
    const date = new Date('2019-11-15T03:36:55Z');
    const headers = signRequest(request, credentials, date);

    expect(headers).toEqual({
      'Content-Type': 'application/json',
      host: 'service.region.example.com',
      'x-sdk-date': '20191115T033655Z',
      authorization:
        'SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe',
    });
    const canonical = canonicalRequestOf(
      received(request, headers),
      credentials.accessKey,
      'content-type;host;x-sdk-date',
      date,
    );
    expect(canonical).toBe(
      [
        'GET',
        '/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/',
        'limit=2&marker=13551d6b-755d-4757-b956-536f674975c0',
        'content-type:application/json',
        'host:service.region.example.com',
        'x-sdk-date:20191115T033655Z',
        '',
        'content-type;host;x-sdk-date',
        EMPTY_SHA256,
      ].join('\n'),
    );
    expect(sha256(canonical)).toBe('b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a');
  });

  // SDK-go's signer signs x-sdk-date only (no host, no content-type), so these are checked the
  // way the gateway sees them: the published signature must verify.
  const go = { accessKey: 'AccessKey', secretKey: 'SecretKey' };
  const goDate = new Date('2006-01-02T15:04:05Z');
  const goRequest = (method: string, rawUrl: string, body: string, signature: string): ReceivedRequest => ({
    method,
    rawUrl,
    headers: {
      host: 'example.huaweicloud.com',
      'content-type': 'application/json',
      test_underscore: 'not signed',
      'x-sdk-date': '20060102T150405Z',
      authorization: `SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=${signature}`,
    },
    body: Buffer.from(body),
  });

  it('TV2: SDK-go GET with a query', () => {
    const request = goRequest(
      'GET',
      '/path?limit=1',
      '',
      '5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624',
    );
    expect(verifySignature(request, secretsOf(go), goDate)).toEqual({ ok: true, accessKey: 'AccessKey' });
    expect(canonicalRequestOf(request, 'AccessKey', 'x-sdk-date', goDate)).toBe(
      `GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n${EMPTY_SHA256}`,
    );
  });

  it('TV3: SDK-go POST, whose body ends with the newline json.Encoder appends', () => {
    const signature = 'cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59';
    const request = goRequest('POST', '/path?key=value', '{"Name":"test","Id":1}\n', signature);
    expect(verifySignature(request, secretsOf(go), goDate)).toEqual({ ok: true, accessKey: 'AccessKey' });
    // The hash covers the exact bytes: without the newline the same signature is refused.
    const withoutNewline = { ...request, body: Buffer.from('{"Name":"test","Id":1}') };
    expect(verifySignature(withoutNewline, secretsOf(go), goDate).ok).toBe(false);
  });

  const ims = { accessKey: 'AKEXAMPLE0000000000', secretKey: 'SKEXAMPLE00000000000000000000000000000000' };
  const imsDate = new Date('2024-01-01T00:00:00Z');
  const imsHeaders = { 'X-Project-Id': '0123456789abcdef0123456789abcdef', 'Content-Type': 'application/json' };
  const imsSignedHeaders = 'content-type;host;x-project-id;x-sdk-date';

  it('TV4: IMS-shaped GET with a query', () => {
    const request: SignableRequest = {
      method: 'GET',
      url: new URL(
        'https://ims.ap-southeast-1.myhuaweicloud.com/v2/cloudimages?__imagetype=private&limit=10&name=my%20image',
      ),
      headers: imsHeaders,
      body: '',
    };
    const headers = signRequest(request, ims, imsDate);
    expect(headers.authorization).toBe(
      'SDK-HMAC-SHA256 Access=AKEXAMPLE0000000000, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=c5ddc789022d4ced529ddea40fb91d7cb02a62a1c07f6e375ff6d26d8b926ae1',
    );
    const canonical = canonicalRequestOf(received(request, headers), ims.accessKey, imsSignedHeaders, imsDate);
    expect(canonical.split('\n')[2]).toBe('__imagetype=private&limit=10&name=my%20image');
    expect(sha256(canonical)).toBe('4319921abdb89422ba7f47e3b6fbf560bdf76f150ad059537ea430097592644a');
  });

  it('TV5: IMS-shaped quick import POST', () => {
    const body =
      '{"name":"ims_test_file","image_url":"ims-image:centos70.zvhd2","os_version":"CentOS 7.0 64bit","min_disk":40,"type":"ECS"}';
    const request: SignableRequest = {
      method: 'POST',
      url: new URL('https://ims.ap-southeast-1.myhuaweicloud.com/v2/cloudimages/quickimport/action'),
      headers: imsHeaders,
      body,
    };
    const headers = signRequest(request, ims, imsDate);
    expect(headers.authorization).toBe(
      'SDK-HMAC-SHA256 Access=AKEXAMPLE0000000000, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=4b20512eb4248facb715353ea32773d3b2256a943da2a22bfb8854f246d49925',
    );
    const canonical = canonicalRequestOf(received(request, headers), ims.accessKey, imsSignedHeaders, imsDate);
    expect(canonical.split('\n')[1]).toBe('/v2/cloudimages/quickimport/action/');
    expect(canonical.endsWith('\ne9b1c6e24854e8fc826dd1f639e05e2f0b01f938b4be07e1601bf237701395ca')).toBe(true);
    expect(sha256(canonical)).toBe('5e99853d8b1d88fd32f5c6a46a42110211661c21feca72a8b3ba89c44f045adb');
  });

  // npm.md §6, computed with the SDK's AKSKSigner.
  const npm = { accessKey: 'AKIDEXAMPLE0000000000', secretKey: 'SKEXAMPLESECRETKEY0000000000000000000000' };
  const npmDate = new Date('2026-01-01T00:00:00Z');

  it('npm.md reference script: POST quick import to a local port', () => {
    const data = {
      name: 'img-1',
      os_version: 'Ubuntu 22.04 server 64bit',
      image_url: 'bucket:img.qcow2',
      min_disk: 40,
      type: 'ECS',
    };
    const request: SignableRequest = {
      method: 'POST',
      url: new URL('http://127.0.0.1:18080/v2/cloudimages/quickimport/action'),
      headers: { 'content-type': 'application/json', 'X-Project-Id': '0123456789abcdef0123456789abcdef' },
      body: JSON.stringify(data),
    };
    const headers = signRequest(request, npm, npmDate);
    expect(headers.host).toBe('127.0.0.1:18080');
    expect(headers.authorization).toBe(
      'SDK-HMAC-SHA256 Access=AKIDEXAMPLE0000000000, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=2fd9338fbdd21c0b2b884757eb4009d4fea648b3120f54a9bbfbd9735da636be',
    );
    const canonical = canonicalRequestOf(received(request, headers), npm.accessKey, imsSignedHeaders, npmDate);
    expect(canonical.endsWith('\n37082e311cb10a64799080ae279a90cd805a060587c3f827a699ed7dabf01bcf')).toBe(true);
    expect(sha256(canonical)).toBe('80630c4d28aa8bb29ae95109c2d1e82cb7282302d4c0346d39da000b2e524407');
  });

  it('npm.md second vector: GET with spaces, repeated keys and a leading underscore', () => {
    // The URL as the SDK puts it on the wire (querystring.stringify, in insertion order).
    const request: SignableRequest = {
      method: 'GET',
      url: new URL('http://127.0.0.1:18080/v2/cloudimages?name=a%20b&__imagetype=private&limit=10&tags=z&tags=a'),
      headers: { 'content-type': 'application/json' },
      body: '',
    };
    const headers = signRequest(request, npm, npmDate);
    expect(headers.authorization).toBe(
      'SDK-HMAC-SHA256 Access=AKIDEXAMPLE0000000000, SignedHeaders=content-type;host;x-sdk-date, Signature=c5801a595c2d57e579af040695f88f714a4d34058566d6c36c6d9a5e1b57dd0c',
    );
    expect(canonicalRequestOf(received(request, headers), npm.accessKey, 'content-type;host;x-sdk-date', npmDate)).toBe(
      'GET\n/v2/cloudimages/\n__imagetype=private&limit=10&name=a%20b&tags=a&tags=z\ncontent-type:application/json\nhost:127.0.0.1:18080\nx-sdk-date:20260101T000000Z\n\ncontent-type;host;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('equality with the SDK AKSKSigner on random requests', () => {
  // Code points below U+D800 or above U+FFFF: there UTF-8 byte order (ours) and the UTF-16 code
  // unit order of the SDK's Array.sort agree (the one place they differ is pinned further down).
  const anyChar = fc.oneof(
    fc.constantFrom(...'aZ09-_.~ !"#$%&\'()*+,/:;<=>?@[\\]^`{|}'),
    fc.integer({ min: 0x80, max: 0xd7ff }).map((c) => String.fromCodePoint(c)),
    fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
  );
  const text = (minLength: number, maxLength: number) =>
    fc.array(anyChar, { minLength, maxLength }).map((chars) => chars.join(''));
  // Characters the SDK's legacy url.parse leaves alone in a path (the others are pinned below).
  const pathChar = fc.oneof(
    fc.constantFrom(...'aZ09-_.~!$&()*+,;=:@'),
    anyChar.filter((c) => c.codePointAt(0)! >= 0x80 && !/\s/u.test(c)),
  );
  const segment = fc
    .array(pathChar, { minLength: 1, maxLength: 6 })
    .map((chars) => chars.join(''))
    .filter((s) => s !== '.' && s !== '..');
  const reserved = new Set(['host', 'x-sdk-date', 'x-sdk-content-sha256', 'x-security-token', 'authorization']);
  const headerName = fc
    .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/)
    .filter((name) => !reserved.has(name.toLowerCase()));
  const headerValue = fc.stringMatching(/^(?:[\x21-\x7e](?:[\x20-\x7e]{0,20}[\x21-\x7e])?)?$/);

  const requestArb = fc.record({
    origin: fc.constantFrom(
      'http://127.0.0.1:18080',
      'https://ims.ap-southeast-1.myhuaweicloud.com',
      'http://localhost:8443',
      'http://[::1]:9000',
    ),
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
    segments: fc.array(segment, { minLength: 1, maxLength: 5 }),
    query: fc.uniqueArray(
      fc.tuple(text(1, 6), fc.oneof(text(0, 8), fc.array(text(0, 5), { minLength: 2, maxLength: 3 }))),
      { selector: ([key]) => key, maxLength: 6 },
    ),
    headers: fc.uniqueArray(fc.tuple(headerName, headerValue), {
      selector: ([name]) => name.toLowerCase(),
      maxLength: 5,
    }),
    data: fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }),
    date: fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
      .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)),
    accessKey: fc.stringMatching(/^[A-Z0-9]{20}$/),
    secretKey: fc.stringMatching(/^[A-Za-z0-9]{40}$/),
  });

  it('gives the same Authorization on 1,000 requests, and each side verifies the other', () => {
    let cases = 0;
    fc.assert(
      fc.property(requestArb, (r) => {
        const credentials = { accessKey: r.accessKey, secretKey: r.secretKey };
        const endpoint = r.origin + '/' + r.segments.join('/');
        const queryParams = Object.fromEntries(r.query);
        const headers = Object.fromEntries(r.headers);
        const data = r.method === 'GET' ? undefined : r.data;
        // The URL the SDK requests: axios serialises queryParams with querystring.stringify.
        const search = stringify(queryParams);
        const url = new URL(search === '' ? endpoint : `${endpoint}?${search}`);

        const sdk = sdkSign(
          {
            endpoint,
            method: r.method,
            headers: { ...headers, 'X-Sdk-Date': sdkDate(r.date) },
            queryParams: structuredClone(queryParams), // the SDK sorts array values in place
            ...(data === undefined ? {} : { data }),
          },
          credentials,
        );
        const request: SignableRequest = {
          method: r.method,
          url,
          headers,
          body: data === undefined ? '' : JSON.stringify(data),
        };
        const ours = signRequest(request, credentials, r.date);
        expect(ours.authorization).toBe(sdk.Authorization);

        const secretFor = secretsOf(credentials);
        expect(verifySignature(received(request, sdk), secretFor, r.date)).toEqual({
          ok: true,
          accessKey: r.accessKey,
        });
        expect(verifySignature(received(request, ours), secretFor, r.date)).toEqual({
          ok: true,
          accessKey: r.accessKey,
        });
        cases++;
      }),
      { numRuns: 1000 },
    );
    expect(cases).toBeGreaterThanOrEqual(1000);
  });

  it('honours X-Sdk-Content-Sha256 like the SDK', () => {
    const credentials = { accessKey: 'AK', secretKey: 'SK' };
    const date = new Date('2026-01-01T00:00:00Z');
    const headers = { 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD', 'content-type': 'application/octet-stream' };
    const endpoint = 'http://127.0.0.1:18080/v1/upload';
    const sdk = sdkSign(
      { endpoint, method: 'PUT', headers: { ...headers, 'X-Sdk-Date': sdkDate(date) }, data: { a: 1 } },
      credentials,
    );
    const ours = signRequest(
      { method: 'PUT', url: new URL(endpoint), headers, body: 'anything at all' },
      credentials,
      date,
    );
    expect(ours.authorization).toBe(sdk.Authorization);
  });
});

describe('where the SDK AKSKSigner differs (pinned, so a change in the SDK is noticed)', () => {
  const credentials = { accessKey: 'AK', secretKey: 'SK' };
  const date = new Date('2026-01-01T00:00:00Z');
  const sdkHeaders = { 'X-Sdk-Date': sdkDate(date) };

  it('double-encodes path characters that legacy url.parse escapes first (space, quote, |, ^ ...)', () => {
    const endpoint = "http://127.0.0.1:18080/v2/a b/it's";
    const sdk = sdkSign({ endpoint, method: 'GET', headers: sdkHeaders }, credentials);
    const request: SignableRequest = { method: 'GET', url: new URL(endpoint), headers: {}, body: '' };
    expect(request.url.pathname).toBe("/v2/a%20b/it's");
    const result = verifySignature(received(request, sdk), secretsOf(credentials), date);
    expect(result.ok).toBe(false);
    // The SDK signed /v2/a%2520b/it%2527s/; the wire path decodes to "a b" and "it's".
    expect(!result.ok && result.canonicalRequest?.split('\n')[1]).toBe('/v2/a%20b/it%27s/');
    expect(
      verifySignature(received(request, signRequest(request, credentials, date)), secretsOf(credentials), date).ok,
    ).toBe(true);
  });

  it('keeps an explicit default port in host, where URL.host drops it', () => {
    const endpoint = 'https://ims.example.com:443/v2/cloudimages';
    expect(sdkSign({ endpoint, method: 'GET', headers: sdkHeaders }, credentials).host).toBe('ims.example.com:443');
    const ours = signRequest({ method: 'GET', url: new URL(endpoint), headers: {}, body: '' }, credentials, date);
    expect(ours.host).toBe('ims.example.com');
  });

  it('sorts query keys by UTF-16 code units, not UTF-8 bytes', () => {
    // U+FF01 sorts after U+1F600 by bytes (EF.. < F0..) but before it by code units (FF01 > D83D).
    const queryParams = { '\u{FF01}': '1', '\u{1F600}': '2' };
    const endpoint = 'http://127.0.0.1:18080/v2/cloudimages';
    const sdk = sdkSign({ endpoint, method: 'GET', headers: sdkHeaders, queryParams }, credentials);
    const url = new URL(`${endpoint}?${stringify(queryParams)}`);
    const result = verifySignature(
      received({ method: 'GET', url, headers: {}, body: '' }, sdk),
      secretsOf(credentials),
      date,
    );
    expect(!result.ok && result.canonicalRequest?.split('\n')[2]).toBe('%EF%BC%81=1&%F0%9F%98%80=2');
  });

  it('orders canonical headers by localeCompare but SignedHeaders by code unit, which disagree on "_"', () => {
    const endpoint = 'http://127.0.0.1:18080/v2/cloudimages';
    const sdk = sdkSign({ endpoint, method: 'GET', headers: { ...sdkHeaders, x_a: '1', 'x-a': '2' } }, credentials);
    expect(sdk.Authorization).toContain('SignedHeaders=host;x-a;x-sdk-date;x_a,');
    const request: SignableRequest = { method: 'GET', url: new URL(endpoint), headers: {}, body: '' };
    expect(verifySignature(received(request, sdk), secretsOf(credentials), date).ok).toBe(false);
  });
});

describe('verifySignature', () => {
  const credentials = { accessKey: 'AKEXAMPLE0000000000', secretKey: 'SKEXAMPLEsecretSECRET0000000000000000000' };
  const secretFor = secretsOf(credentials);
  const now = new Date('2026-11-26T10:00:00Z');
  const request: SignableRequest = {
    method: 'POST',
    url: new URL('https://ims.ap-southeast-1.myhuaweicloud.com/v2/cloudimages/quickimport/action?dry=1'),
    headers: { 'content-type': 'application/json', 'x-project-id': '0123456789abcdef0123456789abcdef' },
    body: '{"name":"web-base","min_disk":40}',
  };
  const signed = (r: SignableRequest = request, c: Credentials = credentials, at: Date = now): ReceivedRequest =>
    received(r, signRequest(r, c, at));

  /** A refusal whose reason a person can read and which gives nothing secret away. */
  function expectRefused(result: Verification, reason: RegExp): void {
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(reason);
    expect(result.reason).toMatch(/^[\x20-\x7e]{10,200}$/);
    expect(JSON.stringify(result)).not.toContain(credentials.secretKey);
  }

  describe('accepts', () => {
    it('what signRequest produces', () => {
      expect(verifySignature(signed(), secretFor, now)).toEqual({ ok: true, accessKey: credentials.accessKey });
    });

    it('temporary credentials, with x-security-token signed', () => {
      const temporary = { ...credentials, securityToken: 'token-from-sts' };
      const headers = signRequest(request, temporary, now);
      expect(headers['x-security-token']).toBe('token-from-sts');
      expect(headers.authorization).toContain(
        'SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token,',
      );
      expect(verifySignature(received(request, headers), secretFor, now).ok).toBe(true);
      // The token is signed, so it cannot be swapped.
      const swapped = withHeaders(received(request, headers), { 'x-security-token': 'another' });
      expectRefused(verifySignature(swapped, secretFor, now), /signature does not match/);
    });

    it('a port in the host', () => {
      const r = { ...request, url: new URL('http://127.0.0.1:18080/v2/cloudimages/quickimport/action') };
      const headers = signRequest(r, credentials, now);
      expect(headers.host).toBe('127.0.0.1:18080');
      expect(verifySignature(received(r, headers), secretFor, now).ok).toBe(true);
    });

    it('a unicode path and query, percent-encoded on the wire as an HTTP client sends them', () => {
      const url = new URL('http://127.0.0.1:18080/v2/images/é 一/😀 "q"/x%2Fy');
      url.search = `?name=${encodeURIComponent('ü b+c')}&tag=${encodeURIComponent('一')}&tag=a&empty=&flag`;
      const r = { ...request, method: 'GET', url, body: '' };
      const wire = signed(r);
      expect(wire.rawUrl).toBe(
        '/v2/images/%C3%A9%20%E4%B8%80/%F0%9F%98%80%20%22q%22/x%2Fy?name=%C3%BC%20b%2Bc&tag=%E4%B8%80&tag=a&empty=&flag',
      );
      expect(verifySignature(wire, secretFor, now).ok).toBe(true);
      expect(canonicalRequestOf(wire, credentials.accessKey, 'host;x-sdk-date', now).split('\n').slice(1, 3)).toEqual([
        '/v2/images/%C3%A9%20%E4%B8%80/%F0%9F%98%80%20%22q%22/x%2Fy/',
        'empty=&flag=&name=%C3%BC%20b%2Bc&tag=a&tag=%E4%B8%80',
      ]);
    });

    it('what the SDK AKSKSigner produces', () => {
      const data = { name: 'web-base', min_disk: 40 };
      const sdk = sdkSign(
        {
          endpoint: 'http://127.0.0.1:18080/v2/cloudimages/quickimport/action',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'X-Project-Id': 'p1', 'X-Sdk-Date': sdkDate(now) },
          data,
        },
        credentials,
      );
      const wire: ReceivedRequest = {
        method: 'POST',
        rawUrl: '/v2/cloudimages/quickimport/action',
        headers: Object.fromEntries(Object.entries(sdk).map(([name, value]) => [name.toLowerCase(), value])),
        body: Buffer.from(JSON.stringify(data)),
      };
      expect(verifySignature(wire, secretFor, now)).toEqual({ ok: true, accessKey: credentials.accessKey });
    });

    it('a date 14 minutes off either way', () => {
      const fourteen = 14 * 60 * 1000;
      expect(verifySignature(signed(request, credentials, new Date(now.getTime() - fourteen)), secretFor, now).ok).toBe(
        true,
      );
      expect(verifySignature(signed(request, credentials, new Date(now.getTime() + fourteen)), secretFor, now).ok).toBe(
        true,
      );
    });

    it('any body when the payload is declared UNSIGNED-PAYLOAD', () => {
      const r = { ...request, headers: { ...request.headers, 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD' } };
      const wire = { ...signed(r), body: Buffer.from('a different body') };
      expect(verifySignature(wire, secretFor, now).ok).toBe(true);
      expect(canonicalRequestOf(wire, credentials.accessKey, 'host;x-sdk-content-sha256;x-sdk-date', now)).toMatch(
        /\nUNSIGNED-PAYLOAD$/,
      );
    });
  });

  describe('refuses', () => {
    it('a tampered body, and shows the canonical request it computed', () => {
      const result = verifySignature({ ...signed(), body: Buffer.from('{"name":"evil"}') }, secretFor, now);
      expectRefused(result, /^signature does not match the request$/);
      expect(!result.ok && result.canonicalRequest).toBe(
        [
          'POST',
          '/v2/cloudimages/quickimport/action/',
          'dry=1',
          'content-type:application/json',
          'host:ims.ap-southeast-1.myhuaweicloud.com',
          'x-project-id:0123456789abcdef0123456789abcdef',
          'x-sdk-date:20261126T100000Z',
          '',
          'content-type;host;x-project-id;x-sdk-date',
          sha256('{"name":"evil"}'),
        ].join('\n'),
      );
    });

    it('a tampered path', () => {
      const wire = { ...signed(), rawUrl: '/v2/cloudimages/quickimport/other?dry=1' };
      expectRefused(verifySignature(wire, secretFor, now), /signature does not match/);
    });

    it('a tampered query', () => {
      for (const rawUrl of [
        '/v2/cloudimages/quickimport/action?dry=0',
        '/v2/cloudimages/quickimport/action?dry=1&x=1',
        '/v2/cloudimages/quickimport/action',
      ]) {
        expectRefused(verifySignature({ ...signed(), rawUrl }, secretFor, now), /signature does not match/);
      }
    });

    it('a signed header changed after signing, or missing', () => {
      const changed = withHeaders(signed(), { 'x-project-id': 'ffffffffffffffffffffffffffffffff' });
      expectRefused(verifySignature(changed, secretFor, now), /signature does not match/);
      const missing = withHeaders(signed(), { 'x-project-id': undefined });
      expectRefused(verifySignature(missing, secretFor, now), /signed header x-project-id is missing/);
    });

    it('a signature made with another secret', () => {
      const other = { ...credentials, secretKey: 'another-secret-key-0000000000000000000000' };
      expectRefused(verifySignature(signed(request, other), secretFor, now), /signature does not match/);
    });

    it('an unknown access key', () => {
      const stranger = { accessKey: 'AKUNKNOWN', secretKey: credentials.secretKey };
      expectRefused(verifySignature(signed(request, stranger), secretFor, now), /unknown access key "AKUNKNOWN"/);
    });

    it('a missing or garbled Authorization header', () => {
      const wire = signed();
      const sig = 'a'.repeat(64);
      expectRefused(
        verifySignature(withHeaders(wire, { authorization: undefined }), secretFor, now),
        /missing Authorization/,
      );
      const garbled: [string, RegExp][] = [
        ['Bearer abc.def', /unsupported Authorization scheme "Bearer"; expected SDK-HMAC-SHA256/],
        [`V11-HMAC-SHA256 Access=A, SignedHeaders=x-sdk-date, Signature=${sig}`, /unsupported Authorization scheme/],
        ['SDK-HMAC-SHA256', /malformed Authorization header: expected/],
        ['SDK-HMAC-SHA256 nonsense', /malformed Authorization header: expected/],
        [`SDK-HMAC-SHA256 Access=A, Signature=${sig}`, /malformed Authorization header: expected/],
        ['SDK-HMAC-SHA256 Access=A, SignedHeaders=x-sdk-date, Signature=xyz', /Signature must be 64 lower-case hex/],
        [
          `SDK-HMAC-SHA256 Access=A, SignedHeaders=Host;;x-sdk-date, Signature=${sig}`,
          /SignedHeaders must be lower-case/,
        ],
      ];
      for (const [authorization, reason] of garbled) {
        expectRefused(verifySignature(withHeaders(wire, { authorization }), secretFor, now), reason);
      }
    });

    it('a request whose x-sdk-date is not signed', () => {
      const wire = signed();
      const authorization = String(wire.headers.authorization).replace(';x-sdk-date,', ',');
      expect(authorization).toContain('SignedHeaders=content-type;host;x-project-id,');
      expectRefused(
        verifySignature(withHeaders(wire, { authorization }), secretFor, now),
        /x-sdk-date must be one of the SignedHeaders/,
      );
    });

    it('a malformed or missing x-sdk-date', () => {
      for (const date of ['2026-11-26T10:00:00Z', '20261326T100000Z', '']) {
        const wire = withHeaders(signed(), { 'x-sdk-date': date });
        expectRefused(verifySignature(wire, secretFor, now), /is not in the YYYYMMDDTHHmmssZ format/);
      }
      const missing = withHeaders(signed(), { 'x-sdk-date': undefined });
      expectRefused(verifySignature(missing, secretFor, now), /^x-sdk-date header is missing$/);
    });

    it('a date 16 minutes in the past or in the future', () => {
      const sixteen = 16 * 60 * 1000;
      expectRefused(
        verifySignature(signed(request, credentials, new Date(now.getTime() - sixteen)), secretFor, now),
        /^request expired: x-sdk-date 20261126T094400Z is 16m0s in the past; at most 15m0s of clock skew is allowed$/,
      );
      expectRefused(
        verifySignature(signed(request, credentials, new Date(now.getTime() + sixteen)), secretFor, now),
        /^x-sdk-date 20261126T101600Z is 16m0s in the future; at most 15m0s of clock skew is allowed$/,
      );
      // The allowance is the caller's to choose.
      expect(
        verifySignature(signed(request, credentials, new Date(now.getTime() - sixteen)), secretFor, now, 20 * 60 * 1000)
          .ok,
      ).toBe(true);
    });
  });
});

describe('signRequest', () => {
  it('refuses headers it sets itself, and a header given twice', () => {
    const base = { method: 'GET', url: new URL('https://example.com/'), body: '' };
    const credentials = { accessKey: 'AK', secretKey: 'SK' };
    const date = new Date('2026-01-01T00:00:00Z');
    expect(() => signRequest({ ...base, headers: { Host: 'x' } }, credentials, date)).toThrow(
      /adds the host header itself/,
    );
    expect(() => signRequest({ ...base, headers: { 'X-Sdk-Date': 'x' } }, credentials, date)).toThrow(/x-sdk-date/);
    expect(() => signRequest({ ...base, headers: { a: '1', A: '2' } }, credentials, date)).toThrow(
      /header a is given twice/,
    );
  });
});
