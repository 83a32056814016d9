// `imsync emulator` as users run it: its own process, reached over HTTP by Huawei's own SDK client
// (an independent implementation of the protocol) and by imsync's client.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js';
import { request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_DEFAULTS } from '../../src/emulator/index.js';
import { ImsClient } from '../../src/ims/client.js';
import { signRequest } from '../../src/ims/signer.js';
import { signObsRequest } from '../../src/obs/signer.js';
import { spawnEmulator, type EmulatorProcess } from '../support/emulator-process.js';
import { DOC_EXAMPLES } from '../support/ims-doc-examples.js';
import { loopback } from '../support/loopback.js';
import { OutOfBand } from '../support/out-of-band.js';
import { runCli } from '../support/run-cli.js';

const started: EmulatorProcess[] = [];
afterEach(() => {
  for (const emulator of started.splice(0)) emulator.kill();
});

async function startCli(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<EmulatorProcess> {
  const emulator = await spawnEmulator(args, env);
  started.push(emulator);
  return emulator;
}

const body = DOC_EXAMPLES.systemWithImageTags;

beforeAll(async () => {
  // The SDK's client builder writes an application id under $HOME.
  process.env.HOME = await mkdtemp(join(tmpdir(), 'imsync-sdk-home-'));
});

describe('imsync emulator', () => {
  it("serves Huawei's own SDK client: import, job to SUCCESS, list with a query", async () => {
    const emulator = await startCli(['--job-seconds', '0.3', '--seed', '7']);
    const { send } = await OutOfBand.connect(emulator);
    const { job_id: jobId } = (await send({
      method: 'POST',
      url: '/v2/cloudimages/quickimport/action',
      data: body,
    })) as {
      job_id: string;
    };
    expect(jobId).toMatch(/^[0-9a-f]{32}$/);
    let job: Record<string, unknown> = {};
    for (let i = 0; i < 50 && job.status !== 'SUCCESS'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = await send({ method: 'GET', url: '/v1/{project_id}/jobs/{job_id}', pathParams: { job_id: jobId } });
    }
    expect(job).toMatchObject({
      status: 'SUCCESS',
      job_type: 'imsImportImageJob',
      entities: { image_name: 'ims_test_file' },
    });
    const listed = await send({
      method: 'GET',
      url: '/v2/cloudimages',
      queryParams: { name: 'ims_test_file', __imagetype: 'private', tag: 'key2=value2' },
    });
    expect(listed.images).toEqual([expect.objectContaining({ status: 'active', name: 'ims_test_file' })]);
  });

  it('rejects SDK-signed requests with a tampered signature, a wrong secret or a stale date', async () => {
    const emulator = await startCli();
    const url = `${emulator.url}/v2/cloudimages`;
    const sign = (secretKey: string, date: Date) =>
      AKSKSigner.sign(
        {
          endpoint: url,
          method: 'GET',
          headers: {
            'content-type': 'application/json',
            'X-Sdk-Date': sdkDate(date),
            'X-Project-Id': emulator.projectId,
          },
          queryParams: {},
        },
        new BasicCredentials().withAk(emulator.accessKey).withSk(secretKey),
      ) as Record<string, string>;
    const send = async (headers: Record<string, string>) => {
      const response = await request(url, { headers });
      return { status: response.statusCode, body: (await response.body.json()) as Record<string, string> };
    };
    expect((await send(sign(emulator.secretKey, new Date()))).status).toBe(200);
    const good = sign(emulator.secretKey, new Date());
    const tampered = { ...good, Authorization: good.Authorization!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) };
    for (const headers of [
      tampered,
      sign('wrong-secret', new Date()),
      sign(emulator.secretKey, new Date(Date.now() - 20 * 60_000)),
    ]) {
      const answer = await send(headers);
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error_code: 'APIGW.0301' });
      expect(answer.body.error_msg).toContain('Incorrect IAM authentication information');
      expect(JSON.stringify(answer.body)).not.toContain(emulator.secretKey);
    }
  });

  it("accepts the credentials and project from the environment, and serves imsync's client", async () => {
    const env = {
      HW_ACCESS_KEY: 'MYACCESSKEY',
      HW_SECRET_KEY: 'my-own-secret-key-value',
      HW_PROJECT_ID: 'abcdef0123456789abcdef0123456789',
    };
    const emulator = await startCli([], env);
    expect(emulator.stdout()).toContain('HW_ACCESS_KEY and HW_SECRET_KEY from the environment');
    expect(emulator.stdout()).not.toContain('my-own-secret-key-value');
    const ims = new ImsClient({
      endpoint: emulator.url,
      projectId: env.HW_PROJECT_ID,
      auth: { kind: 'aksk', credentials: { accessKey: env.HW_ACCESS_KEY, secretKey: env.HW_SECRET_KEY } },
    });
    const jobId = await ims.quickImport({ ...body, type: 'ECS' });
    expect((await ims.getJob(jobId)).status).toMatch(/INIT|RUNNING/);
    expect((await ims.getQuota())[0]).toMatchObject({ type: 'image', used: 1 });
    await ims.close();
  });

  it('fails jobs on the objects of --objects: a COLD object with IMG.0057', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imsync-objects-'));
    const objects = join(dir, 'objects.json');
    await writeFile(
      objects,
      JSON.stringify([
        { bucket: 'ims-image', key: 'centos70.zvhd2', size: 2 ** 30, storageClass: 'COLD', region: 'ap-southeast-1' },
      ]),
    );
    const emulator = await startCli(['--objects', objects, '--job-seconds', '0']);
    const ims = new ImsClient({
      endpoint: emulator.url,
      projectId: emulator.projectId,
      auth: { kind: 'aksk', credentials: { accessKey: emulator.accessKey, secretKey: emulator.secretKey } },
    });
    const job = await ims.getJob(await ims.quickImport({ ...body, type: 'ECS' }));
    expect(job).toMatchObject({ status: 'FAIL', errorCode: 'IMG.0057' });
    expect(job.failReason).toMatch(/COLD/);
    await ims.close();
  });

  it('prints the OBS endpoint, whose bucket hosts answer OBS-signed calls with the printed credentials', async () => {
    const emulator = await startCli();
    const { port } = new URL(emulator.url);
    expect(emulator.stdout()).toContain(`export IMSYNC_OBS_ENDPOINT=http://obs.localhost:${port}\n`);
    const headers = signObsRequest(
      { method: 'HEAD', bucket: 'ims-image', key: '' },
      { accessKey: emulator.accessKey, secretKey: emulator.secretKey },
      new Date(),
    );
    // To 127.0.0.1 with the bucket's Host, as a client resolving the .localhost name would.
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
      httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'HEAD',
          path: '/',
          headers: { ...headers, host: `ims-image.obs.localhost:${port}` },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode, ...res.headers });
        },
      )
        .on('error', reject)
        .end();
    });
    expect(answer).toMatchObject({
      status: 200,
      'x-obs-bucket-location': 'ap-southeast-1',
      'x-obs-storage-class': 'STANDARD',
    });
  });

  it("with --regions, prints each region's endpoints, OBS endpoints and project, and IAM, beside the default lines", async () => {
    const emulator = await startCli(['--regions', 'ap-southeast-1,eu-west-101']);
    const { port } = new URL(emulator.url);
    const printed = emulator.stdout();
    // The default region's lines, as with one region.
    expect(emulator.url).toBe(`http://127.0.0.1:${port}`);
    expect(printed).toContain(`HW_PROJECT_ID=${EMULATOR_DEFAULTS.projectId} HW_REGION_NAME=ap-southeast-1\n`);
    expect(printed).toContain(`export IMSYNC_OBS_ENDPOINT=http://obs.localhost:${port}\n`);
    expect(printed).toContain(
      `export IMSYNC_ENDPOINTS=ap-southeast-1=http://ims.ap-southeast-1.localhost:${port},eu-west-101=http://ims.eu-west-101.localhost:${port}\n`,
    );
    expect(printed).toContain(
      `export IMSYNC_OBS_ENDPOINTS=ap-southeast-1=http://obs.ap-southeast-1.localhost:${port},eu-west-101=http://obs.eu-west-101.localhost:${port}\n`,
    );
    expect(printed).toContain(`export IMSYNC_IAM_ENDPOINT=http://iam.localhost:${port}\n`);
    const projects = /IMSYNC_PROJECTS=ap-southeast-1=([0-9a-f]{32}),eu-west-101=([0-9a-f]{32})\n/.exec(printed);
    expect(projects?.[1]).toBe(EMULATOR_DEFAULTS.projectId);
    const euProject = projects?.[2] ?? '';
    expect(printed).toContain(`eu-west-101 at http://ims.eu-west-101.localhost:${port}, project ${euProject}`);

    // IAM names the printed project, signed with the printed pair; the region's endpoint serves it.
    const credentials = { accessKey: emulator.accessKey, secretKey: emulator.secretKey };
    const signed = async (url: string, headers: Record<string, string> = {}) => {
      const target = new URL(url);
      const response = await request(target, {
        headers: signRequest({ method: 'GET', url: target, headers, body: '' }, credentials, new Date()),
        dispatcher: loopback,
      });
      return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
    };
    const iam = await signed(`http://iam.localhost:${port}/v3/projects?name=eu-west-101`);
    expect(iam.json.projects).toEqual([expect.objectContaining({ id: euProject, name: 'eu-west-101' })]);
    const quota = await signed(`http://ims.eu-west-101.localhost:${port}/v1/${euProject}/cloudimages/quota`, {
      'x-project-id': euProject,
    });
    expect(quota.status).toBe(200);
  });

  it.each([
    [['--regions', 'ap-southeast-1,Europe'], '--regions: "Europe" is not a region name such as ap-southeast-1'],
    [['--regions', 'ap-southeast-1,ap-southeast-1'], '--regions: region ap-southeast-1 is given twice'],
    [
      ['--regions', 'ap-southeast-1,eu-west-101', '--region', 'eu-west-101'],
      '--region eu-west-101 is not the first of --regions ap-southeast-1,eu-west-101, which is the default region',
    ],
  ])('refuses %j with exit 1: %s', (args, message) => {
    const result = runCli(['emulator', '--port', '0', ...args]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`imsync: ${message}\n`);
  });

  it('stops cleanly on SIGTERM', async () => {
    const emulator = await startCli();
    emulator.process.kill('SIGTERM');
    const code = await new Promise((resolve) => emulator.process.on('exit', resolve));
    expect(code).toBe(0);
    expect(emulator.stdout()).toContain('imsync emulator stopped');
  });

  it('a port in use: exit 1 with a plain error, not a stack trace', async () => {
    const first = await startCli();
    const port = new URL(first.url).port;
    const result = runCli(['emulator', '--port', port]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`imsync: --port ${port}: cannot listen on 127.0.0.1:${port} (the address is in use)\n`);
  });

  it.each([
    [['--faults', 'rate=fast'], {}, '--faults: invalid fault "rate=fast"'],
    [['--faults', '429=2'], {}, '429 must be a probability from 0 to 1'],
    [['--port', '99999'], {}, '--port "99999" must be a whole number from 0 to 65535'],
    [['--job-seconds', '-1'], {}, '--job-seconds "-1" must be a number of seconds'],
    [['--seed', 'abc'], {}, '--seed "abc" must be a whole number'],
    [['--objects', 'missing.json'], {}, '--objects missing.json: cannot be read'],
    [[], { HW_ACCESS_KEY: 'AK' }, 'set both HW_ACCESS_KEY and HW_SECRET_KEY'],
  ])('refuses %j %j with exit 1: %s', (args, env, message) => {
    const result = runCli(['emulator', '--port', '0', ...args], { env });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
  });
});

function sdkDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}
