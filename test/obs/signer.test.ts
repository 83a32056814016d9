// The OBS signature against research/obs-preflight.md's vectors O1–O6 (computed there with
// Huawei's own Node SDK and an independent HMAC), and the emulator's check of it.
import { describe, expect, it } from 'vitest';
import { signObsRequest, verifyObsSignature, wirePath, type ObsRequest } from '../../src/obs/signer.js';

const CREDENTIALS = { accessKey: 'H4IPJX0TQTHTHEBQQCEC', secretKey: 'EXAMPLEsecretKEY0123456789abcdefghijklmnop' };
const DATE = new Date('2026-07-01T04:19:25Z');
const BUCKET = 'ims-images';

const VECTORS: readonly [string, ObsRequest, string, string?][] = [
  ['O1', { method: 'HEAD', bucket: BUCKET, key: 'images/image01.raw' }, 'H468ppoxw1BqvEebpgDzjSdlaRE='],
  ['O2', { method: 'HEAD', bucket: BUCKET, key: 'images/image01.mf' }, 'rAfCaGjahAAtFcNbxQBhZl2kRlc='],
  ['O3', { method: 'HEAD', bucket: BUCKET, key: '' }, 'yrMlaU95yX9W5sJBqX3ZdMGuKxU='],
  ['O4', { method: 'GET', bucket: BUCKET, key: '', query: { location: '' } }, 'o4S4qp0K53v7QUM4Opg7VE9tBfM='],
  [
    'O5',
    { method: 'HEAD', bucket: BUCKET, key: 'images/image01.raw' },
    'Tr847JvzTfGReVzlNLGLPzvRirQ=',
    'EXAMPLEsecurityTOKEN',
  ],
  ['O6', { method: 'HEAD', bucket: BUCKET, key: 'dir a/镜像 1.zvhd2' }, 'U91RifFVDFtOdbMIMGpKNj71zqk='],
];

describe('the OBS header signature', () => {
  it.each(VECTORS)('%s', (_, request, signature, securityToken) => {
    const headers = signObsRequest(
      request,
      securityToken === undefined ? CREDENTIALS : { ...CREDENTIALS, securityToken },
      DATE,
    );
    expect(headers.authorization).toBe(`OBS ${CREDENTIALS.accessKey}:${signature}`);
    expect(headers.date).toBe('Wed, 01 Jul 2026 04:19:25 GMT');
    if (securityToken !== undefined) expect(headers['x-obs-security-token']).toBe(securityToken);
  });

  it('sends the key encoded as it signs it', () => {
    expect(wirePath({ method: 'HEAD', bucket: BUCKET, key: 'dir a/镜像 1(x)!.zvhd2' })).toBe(
      '/dir%20a/%E9%95%9C%E5%83%8F%201%28x%29%21.zvhd2',
    );
    expect(wirePath({ method: 'GET', bucket: BUCKET, key: '', query: { location: '' } })).toBe('/?location');
  });

  describe('checked as OBS checks it', () => {
    const secretFor = (ak: string) => (ak === CREDENTIALS.accessKey ? CREDENTIALS.secretKey : undefined);
    const received = (request: ObsRequest, headers: Record<string, string>) => ({
      method: request.method,
      bucket: request.bucket,
      rawUrl: wirePath(request),
      headers,
    });

    it.each(VECTORS)('%s passes', (_, request, __, securityToken) => {
      const credentials = securityToken === undefined ? CREDENTIALS : { ...CREDENTIALS, securityToken };
      const headers = signObsRequest(request, credentials, DATE);
      expect(verifyObsSignature(received(request, headers), secretFor, DATE)).toEqual({
        ok: true,
        accessKey: CREDENTIALS.accessKey,
      });
    });

    it('refuses another key, a tampered path or token, a wrong secret and a stale date', () => {
      const request = VECTORS[0]![1];
      const headers = signObsRequest(request, CREDENTIALS, DATE);
      const check = (r: ReturnType<typeof received>, now = DATE) => verifyObsSignature(r, secretFor, now);
      expect(check({ ...received(request, headers), rawUrl: '/images/image02.raw' })).toMatchObject({
        ok: false,
        code: 'SignatureDoesNotMatch',
      });
      expect(check(received(request, { ...headers, 'x-obs-security-token': 'added' }))).toMatchObject({
        ok: false,
        code: 'SignatureDoesNotMatch',
      });
      const other = signObsRequest(request, { ...CREDENTIALS, secretKey: 'wrong' }, DATE);
      expect(check(received(request, other))).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
      const unknown = signObsRequest(request, { ...CREDENTIALS, accessKey: 'NOBODY' }, DATE);
      expect(check(received(request, unknown))).toMatchObject({ ok: false, code: 'InvalidAccessKeyId' });
      expect(check(received(request, headers), new Date(DATE.getTime() + 16 * 60_000))).toMatchObject({
        ok: false,
        code: 'RequestTimeTooSkewed',
      });
      expect(check(received(request, {}))).toMatchObject({ ok: false, code: 'AccessDenied' });
    });
  });
});
