// Changes made to the account by someone other than imsync: Huawei's own SDK client, signing with
// the emulator's AK/SK, as a colleague's script or the console would. Never imsync's client.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core';
import { ClientBuilder } from '@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js';
import type { EmulatorProcess } from './emulator-process.js';

export interface Tag {
  readonly key: string;
  readonly value: string;
}

export interface SdkRequest {
  readonly method: string;
  /** The path, with `{project_id}` and the `pathParams` filled in by the SDK. */
  readonly url: string;
  readonly data?: object;
  readonly queryParams?: object;
  readonly pathParams?: object;
}

export class OutOfBand {
  /** Any IMS call, signed by the SDK. */
  readonly send: (request: SdkRequest) => Promise<Record<string, unknown>>;

  private constructor(emulator: EmulatorProcess) {
    const credentials = new BasicCredentials()
      .withAk(emulator.accessKey)
      .withSk(emulator.secretKey)
      .withProjectId(emulator.projectId);
    const sdk = new ClientBuilder((client) => client).withEndpoint(emulator.url).withCredential(credentials).build();
    this.send = (request) =>
      sdk.sendRequest<Record<string, unknown>>({
        contentType: 'application/json',
        queryParams: {},
        pathParams: {},
        headers: {},
        ...request,
      });
  }

  /** The SDK's client builder writes an application id under $HOME: give it a home of its own. */
  static async connect(emulator: EmulatorProcess): Promise<OutOfBand> {
    process.env.HOME = await mkdtemp(join(tmpdir(), 'imsync-sdk-home-'));
    return new OutOfBand(emulator);
  }

  async delete(imageId: string): Promise<void> {
    await this.send({ method: 'DELETE', url: '/v2/images/{image_id}', pathParams: { image_id: imageId } });
  }

  async patch(imageId: string, operations: { op: string; path: string; value?: string }[]): Promise<void> {
    await this.send({
      method: 'PATCH',
      url: '/v2/cloudimages/{image_id}',
      pathParams: { image_id: imageId },
      data: operations,
    });
  }

  async tags(imageId: string, action: 'create' | 'delete', tags: Tag[]): Promise<void> {
    await this.send({
      method: 'POST',
      url: '/v2/{project_id}/images/{image_id}/tags/action',
      pathParams: { image_id: imageId },
      data: { action, tags },
    });
  }

  /** A quick import of the sender's own, active once its job ends; returns the job id. */
  async quickImport(body: object): Promise<string> {
    const answer = await this.send({ method: 'POST', url: '/v2/cloudimages/quickimport/action', data: body });
    return answer.job_id as string;
  }

  /** Waits for a job to end and returns its image id. */
  async imageOfJob(jobId: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const job = await this.send({
        method: 'GET',
        url: '/v1/{project_id}/jobs/{job_id}',
        pathParams: { job_id: jobId },
      });
      if (job.status === 'SUCCESS') return (job.entities as { image_id: string }).image_id;
      if (job.status === 'FAIL') throw new Error(`job ${jobId} failed: ${JSON.stringify(job)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`job ${jobId} did not end`);
  }
}
