// The OBS signature against Huawei's own Node SDK (esdk-obs-nodejs), offline: the SDK builds the
// request (makeParam: host, path, sub-resources) and signs it (doAuth) exactly as its send does,
// with the date fixed instead of the SDK's clock. Nothing is sent.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/ims/signer.js';
import { bucketOrigin } from '../../src/obs/endpoints.js';
import { signObsRequest, wirePath, type ObsRequest } from '../../src/obs/signer.js';

/** The few internals of lib/utils.js used here (the package is CommonJS, without types). */
interface SdkRequest {
  readonly method: string;
  /** The signed path, /bucket/key, percent-encoded. */
  readonly uri: string;
  /** The path sent to a virtual host, /key. */
  readonly requestUri?: string;
  /** '?location' and the like; '' for none. */
  readonly urlPath: string;
  readonly headers: Record<string, string>;
  readonly err?: string;
}
interface SdkUtils {
  initFactory(
    ak: string,
    sk: string,
    isSecure: boolean,
    server: string,
    pathStyle: boolean,
    signature: string,
    region: string,
    port: undefined,
    maxRetryCount: undefined,
    timeout: undefined,
    sslVerify: undefined,
    longConnection: undefined,
    securityToken: string | undefined,
    isSignatureNegotiation: boolean,
  ): Promise<void>;
  makeParam(methodName: string, param: Readonly<Record<string, string>>): SdkRequest;
  doAuth(request: SdkRequest, methodName: string, signatureContext: unknown): void;
  readonly signatureContext: { readonly headerPrefix: string };
  readonly securityToken: string | null;
}
type SdkUtilsClass = new (logger: { isLevelEnabled(level: string): boolean; runLog(): void }) => SdkUtils;

const require = createRequire(import.meta.url);
const Utils = require('esdk-obs-nodejs/lib/utils.js') as SdkUtilsClass;
const silent = { isLevelEnabled: () => false, runLog: () => undefined };

const ENDPOINT = new URL('https://obs.cn-north-4.myhuaweicloud.com');
const DATE = new Date('2026-07-01T04:19:25Z');

/** The SDK's method for each request imsync sends. */
type Operation = 'headObject' | 'headBucket' | 'bucketLocation';
const SDK_METHOD: Readonly<Record<Operation, string>> = {
  headObject: 'GetObjectMetadata',
  headBucket: 'HeadBucket',
  bucketLocation: 'GetBucketLocation',
};

function ourRequest(operation: Operation, bucket: string, key: string): ObsRequest {
  if (operation === 'headObject') return { method: 'HEAD', bucket, key };
  if (operation === 'headBucket') return { method: 'HEAD', bucket, key: '' };
  return { method: 'GET', bucket, key: '', query: { location: '' } };
}

/** What the SDK would send: host, path and Authorization, signed at DATE. */
async function sdkSigned(
  operation: Operation,
  bucket: string,
  key: string,
  credentials: Credentials,
): Promise<{ host: string; path: string; authorization: string | undefined }> {
  const sdk = new Utils(silent);
  // Virtual-hosted, OBS signature, no negotiation request.
  await sdk.initFactory(
    credentials.accessKey,
    credentials.secretKey,
    true,
    ENDPOINT.href,
    false,
    'obs',
    'cn-north-4',
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    credentials.securityToken,
    false,
  );
  const method = SDK_METHOD[operation];
  const request = sdk.makeParam(method, operation === 'headObject' ? { Bucket: bucket, Key: key } : { Bucket: bucket });
  if (request.err !== undefined) throw new Error(request.err);
  // What the SDK's sendRequest does before signing, with DATE for its clock.
  request.headers.Date = DATE.toUTCString();
  if (sdk.securityToken) request.headers[`${sdk.signatureContext.headerPrefix}security-token`] = sdk.securityToken;
  sdk.doAuth(request, method, sdk.signatureContext);
  return {
    host: request.headers.Host!,
    path: (request.requestUri ?? request.uri) + request.urlPath,
    authorization: request.headers.Authorization,
  };
}

/** OBS bucket names: dot-separated labels of lower-case letters, digits and inner hyphens, 3 to 63 long. */
const bucketName = fc
  .array(fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join('.'))
  .filter((name) => name.length >= 3 && name.length <= 63 && !/^[0-9.]+$/.test(name));

/**
 * Object keys: any Unicode, and keys made of what encoding treats specially. Not starting with
 * '/': the SDK drops a leading '/' from the path it sends (not from the one it signs).
 */
const objectKey = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    fc.string({
      unit: fc.constantFrom(..."ab/ !*'()%+?#&=~;:@,$镜像😀é".split(/(?:)/u)),
      minLength: 1,
      maxLength: 30,
    }),
  )
  .filter((key) => !key.startsWith('/'));

const credentials = fc.record(
  {
    accessKey: fc.stringMatching(/^[A-Z0-9]{20}$/),
    secretKey: fc.stringMatching(/^[A-Za-z0-9]{40}$/),
    securityToken: fc.stringMatching(/^[A-Za-z0-9+/=_-]{1,200}$/),
  },
  { requiredKeys: ['accessKey', 'secretKey'] },
);

describe('the OBS signature, against esdk-obs-nodejs 3.26.8', () => {
  it('the SDK gives vector O1 itself', async () => {
    const signed = await sdkSigned('headObject', 'ims-images', 'images/image01.raw', {
      accessKey: 'H4IPJX0TQTHTHEBQQCEC',
      secretKey: 'EXAMPLEsecretKEY0123456789abcdefghijklmnop',
    });
    expect(signed).toEqual({
      host: 'ims-images.obs.cn-north-4.myhuaweicloud.com',
      path: '/images/image01.raw',
      authorization: 'OBS H4IPJX0TQTHTHEBQQCEC:H468ppoxw1BqvEebpgDzjSdlaRE=',
    });
  });

  it('host, path and Authorization agree for any bucket, key and credentials', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Operation>('headObject', 'headBucket', 'bucketLocation'),
        bucketName,
        objectKey,
        credentials,
        async (operation, bucket, key, given) => {
          const request = ourRequest(operation, bucket, key);
          const sdk = await sdkSigned(operation, bucket, key, given);
          expect(signObsRequest(request, given, DATE).authorization).toBe(sdk.authorization);
          expect(wirePath(request)).toBe(sdk.path);
          expect(bucketOrigin(ENDPOINT, bucket).host).toBe(sdk.host);
        },
      ),
    );
  });
});
