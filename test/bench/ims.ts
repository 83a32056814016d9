// The IMS client and emulator over loopback: how many job-status requests a second the emulator
// (in its own process) serves to the client, and what signing costs the client per request.
import { systemClock } from '../../src/clock.js';
import { spawnEmulator } from '../support/emulator-process.js';
import { fromDist, type BenchSection } from './bench.js';

type Client = typeof import('../../src/ims/client.js');
type Budget = typeof import('../../src/ims/budget.js');
type Signer = typeof import('../../src/ims/signer.js');

const JOBS = 50;
const IN_FLIGHT = 32;
const SECONDS = 3;
const SIGNATURES = 20_000;

export const ims: BenchSection = {
  name: 'ims',
  async run() {
    const { ImsClient } = await fromDist<Client>('ims/client.js');
    const { RequestBudget } = await fromDist<Budget>('ims/budget.js');
    const { signRequest } = await fromDist<Signer>('ims/signer.js');
    // Jobs that stay RUNNING for the whole measurement.
    const emulator = await spawnEmulator(['--job-seconds', '3600', '--seed', '1', '--faults', `jobcap=${JOBS}`]);
    const credentials = { accessKey: emulator.accessKey, secretKey: emulator.secretKey };
    // An unlimited budget: this measures the client and the emulator, not pacing.
    const budget = new RequestBudget(systemClock, { initialRate: 1e6, maxRate: 1e6, burst: 1e6 });
    const client = new ImsClient({
      endpoint: emulator.url,
      projectId: emulator.projectId,
      auth: { kind: 'aksk', credentials },
      budget,
    });
    try {
      const body = {
        name: 'bench',
        image_url: 'bench-bucket:bench.zvhd2',
        os_version: 'Ubuntu 22.04 server 64bit',
        min_disk: 40,
      };
      const jobIds = await Promise.all(Array.from({ length: JOBS }, () => client.quickImport(body)));
      const poll = async (until: number) => {
        let count = 0;
        for (let i = 0; Date.now() < until; i++) {
          const job = await client.getJob(jobIds[i % JOBS]!);
          if (job.status !== 'RUNNING' && job.status !== 'INIT') throw new Error(`job ${job.jobId} is ${job.status}`);
          count++;
        }
        return count;
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, () => poll(Date.now() + 500)));
      const start = process.hrtime.bigint();
      const counts = await Promise.all(Array.from({ length: IN_FLIGHT }, () => poll(Date.now() + SECONDS * 1000)));
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const perSecond = counts.reduce((a, b) => a + b, 0) / seconds;

      const url = new URL(`${emulator.url}/v1/${emulator.projectId}/jobs/${jobIds[0]!}`);
      const headers = { 'content-type': 'application/json', 'x-project-id': emulator.projectId };
      const signStart = process.hrtime.bigint();
      for (let i = 0; i < SIGNATURES; i++)
        signRequest({ method: 'GET', url, headers, body: '' }, credentials, new Date());
      const signMicros = Number(process.hrtime.bigint() - signStart) / 1e3 / SIGNATURES;
      // With IN_FLIGHT requests at once, each request occupies the client for 1/perSecond of its time.
      const share = (signMicros / 1e6) * perSecond;
      return [
        `ims: emulator serves ${Math.round(perSecond)} job-status requests/s to the client over loopback (AK/SK signed, ${IN_FLIGHT} in flight, ${SECONDS} s)`,
        `  signing costs ${signMicros.toFixed(1)} µs per request: ${(share * 100).toFixed(1)}% of the client's time at that rate`,
      ];
    } finally {
      await client.close();
      emulator.kill();
    }
  },
};
