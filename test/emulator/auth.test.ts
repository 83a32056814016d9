import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { EMULATOR_DEFAULTS } from '../../src/emulator/index.js';
import { signRequest } from '../../src/ims/signer.js';
import { DOC_EXAMPLES } from '../support/ims-doc-examples.js';
import { START, testEmulator } from './support.js';

const MINUTE = 60_000;

describe('authentication', () => {
  it('accepts AK/SK-signed requests, GET and POST', async () => {
    const t = await testEmulator();
    const posted = await t.call('POST', '/v2/cloudimages/quickimport/action', {
      body: DOC_EXAMPLES.minimal,
      auth: 'aksk',
    });
    expect(posted.status).toBe(200);
    const listed = await t.call('GET', '/v2/cloudimages?__imagetype=private&name=ims_test_file&limit=10', {
      auth: 'aksk',
    });
    expect(listed.status).toBe(200);
    expect(listed.json.images).toHaveLength(1);
  });

  it('accepts a signature within 15 minutes of its clock', async () => {
    const t = await testEmulator();
    const signedAt = new Date(START - 14 * MINUTE);
    expect((await t.call('GET', '/v1/cloudimages/quota', { auth: 'aksk', signedAt })).status).toBe(200);
  });

  it('answers 401 APIGW.0301 in the gateway shape without credentials', async () => {
    const t = await testEmulator();
    const answer = await t.call('GET', '/v2/cloudimages', { auth: 'none' });
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({
      error_code: 'APIGW.0301',
      error_msg: expect.stringMatching(/^Incorrect IAM authentication information: /) as unknown,
      request_id: answer.headers['x-request-id'],
    });
  });

  it('answers 401 to an unknown token', async () => {
    const t = await testEmulator();
    const answer = await t.call('GET', '/v2/cloudimages', { auth: 'none', headers: { 'x-auth-token': 'forged' } });
    expect(answer.status).toBe(401);
    expect(answer.message).toBe('Incorrect IAM authentication information: decrypt token fail');
  });

  it('answers 401 to a stale or future signature', async () => {
    const t = await testEmulator();
    for (const signedAt of [new Date(START - 16 * MINUTE), new Date(START + 16 * MINUTE)]) {
      const answer = await t.call('GET', '/v2/cloudimages', { auth: 'aksk', signedAt });
      expect(answer.status).toBe(401);
      expect(answer.code).toBe('APIGW.0301');
      expect(answer.message).toContain('x-sdk-date');
    }
  });

  it('answers 401 to a bad signature with the canonical request it computed, and no secret', async () => {
    const t = await testEmulator();
    const { accessKey, secretKey } = EMULATOR_DEFAULTS.credentials[0];
    const url = new URL('/v2/cloudimages?limit=5', t.emulator.url);
    const headers = signRequest(
      { method: 'GET', url, headers: { 'x-project-id': t.emulator.projectId }, body: '' },
      { accessKey, secretKey: 'wrong-secret' },
      new Date(START),
    );
    const response = await request(url, { headers });
    const body = (await response.body.json()) as { error_code: string; error_msg: string };
    expect(response.statusCode).toBe(401);
    expect(body.error_code).toBe('APIGW.0301');
    expect(body.error_msg).toContain('verify aksk signature fail');
    expect(body.error_msg).toContain(
      `canonicalRequest:GET|/v2/cloudimages/|limit=5|host:${url.host}|x-project-id:${t.emulator.projectId}|x-sdk-date:20261126T100000Z||host;x-project-id;x-sdk-date|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`,
    );
    expect(body.error_msg).not.toContain(secretKey);
  });

  it('answers 401 to a body changed after signing', async () => {
    const t = await testEmulator();
    const url = new URL('/v2/cloudimages/quickimport/action', t.emulator.url);
    const body = JSON.stringify(DOC_EXAMPLES.minimal);
    const headers = signRequest(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
      EMULATOR_DEFAULTS.credentials[0],
      new Date(START),
    );
    const response = await request(url, { method: 'POST', headers, body: body.replace('40', '41') });
    expect(response.statusCode).toBe(401);
    await response.body.dump();
    expect((await t.call('GET', '/v2/cloudimages')).json.images).toEqual([]);
  });

  it('never echoes a signed security token', async () => {
    const t = await testEmulator();
    const url = new URL('/v2/cloudimages', t.emulator.url);
    const headers = signRequest(
      { method: 'GET', url, headers: {}, body: '' },
      { accessKey: 'EMULATORACCESSKEY000', secretKey: 'wrong', securityToken: 'sts-token-secret' },
      new Date(START),
    );
    const response = await request(url, { headers });
    const text = await response.body.text();
    expect(response.statusCode).toBe(401);
    expect(text).toContain('x-security-token:***');
    expect(text).not.toContain('sts-token-secret');
  });

  it('answers 403 IMG.0026 to another project in X-Project-Id or in the path', async () => {
    const t = await testEmulator();
    const other = 'ffffffffffffffffffffffffffffffff';
    const header = await t.call('GET', '/v2/cloudimages', { auth: 'aksk', headers: { 'x-project-id': other } });
    expect(header.status).toBe(403);
    expect(header.code).toBe('IMG.0026');
    const path = await t.call('GET', `/v1/${other}/jobs/0123456789abcdef0123456789abcdef`);
    expect(path.status).toBe(403);
  });

  it('answers 404 to an unknown job of the caller’s project', async () => {
    const t = await testEmulator();
    const answer = await t.call('GET', `/v1/${t.emulator.projectId}/jobs/0123456789abcdef0123456789abcdef`);
    expect(answer.status).toBe(404);
    expect(answer.code).toBe('IMG.0027');
  });

  it('takes the configured credentials and tokens only', async () => {
    const t = await testEmulator({
      credentials: [{ accessKey: 'AK2', secretKey: 'SK2' }],
      tokens: ['t1', 't2'],
    });
    expect(t.emulator.token).toBe('t1');
    expect((await t.call('GET', '/v1/cloudimages/quota', { auth: 'aksk' })).status).toBe(200);
    const byToken = await t.call('GET', '/v1/cloudimages/quota', { auth: 'none', headers: { 'x-auth-token': 't2' } });
    expect(byToken.status).toBe(200);
    const byDefault = await t.call('GET', '/v1/cloudimages/quota', {
      auth: 'none',
      headers: { 'x-auth-token': EMULATOR_DEFAULTS.token },
    });
    expect(byDefault.status).toBe(401);
  });
});
