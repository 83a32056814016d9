// Refresh at scale: 10,000 recorded images (and 1,000 more in the account that are not imsync's)
// observed against the emulator over loopback. What counts is the number of requests for the whole
// set, bounded by ⌈images / 500⌉ + 5 (DESIGN.md §8), and that an untouched account shows no drift.
import { systemClock } from '../../src/clock.js';
import { fromDist, elapsedMs, type BenchSection } from './bench.js';

type Emulator = typeof import('../../src/emulator/index.js');
type Client = typeof import('../../src/ims/client.js');
type Budget = typeof import('../../src/ims/budget.js');
type Observe = typeof import('../../src/refresh/observe.js');
type Refresh = typeof import('../../src/refresh/refresh.js');
type Model = typeof import('../../src/state/model.js');

const RECORDED = 10_000;
const OTHERS = 1_000;

export const refreshBench: BenchSection = {
  name: 'refresh',
  async run() {
    const { startEmulator } = await fromDist<Emulator>('emulator/index.js');
    const { ImsClient } = await fromDist<Client>('ims/client.js');
    const { RequestBudget } = await fromDist<Budget>('ims/budget.js');
    const { observeAccount } = await fromDist<Observe>('refresh/observe.js');
    const { refresh } = await fromDist<Refresh>('refresh/refresh.js');
    const { adoptedRecord, emptyState } = await fromDist<Model>('state/model.js');
    const emulator = await startEmulator({
      jobSeconds: 0,
      seed: 1,
      imageQuota: RECORDED + OTHERS,
      maxConcurrentImports: RECORDED + OTHERS,
    });
    let requests = 0;
    const client = new ImsClient({
      endpoint: emulator.url,
      projectId: emulator.projectId,
      auth: { kind: 'aksk', credentials: emulator.credentials[0]! },
      budget: new RequestBudget(systemClock, { initialRate: 1e6, maxRate: 1e6, burst: 1e6 }),
      onResponse: () => requests++,
    });
    try {
      const spec = (key: string) => ({
        name: `image-${key}`,
        image_url: `golden:${key}.zvhd2`,
        os_version: 'Ubuntu 22.04 server 64bit',
        min_disk: 40,
      });
      const keys = Array.from({ length: RECORDED }, (_, i) => `k${i}`);
      const submit = async (key: string, tagged: boolean) =>
        client.getJob(
          await client.quickImport({
            ...spec(key),
            image_tags: tagged
              ? [
                  { key: 'imsync-key', value: key },
                  { key: 'imsync-attempt', value: `a-${key}` },
                ]
              : [{ key: 'team', value: 'other' }],
          }),
        );
      const images = new Map<string, string>();
      for (let i = 0; i < keys.length; i += 200) {
        const jobs = await Promise.all(keys.slice(i, i + 200).map((key) => submit(key, true)));
        jobs.forEach((job, j) => images.set(keys[i + j]!, job.imageId!));
      }
      await Promise.all(Array.from({ length: OTHERS }, (_, i) => submit(`other-${i}`, false)));
      const at = new Date();
      const state = {
        ...emptyState(),
        images: Object.fromEntries(
          keys.map((key) => [
            key,
            adoptedRecord({ imageId: images.get(key)!, attemptId: `a-${key}`, spec: spec(key), at }),
          ]),
        ),
      };
      const manifests = keys.map((key) => ({
        apiVersion: 'imsync/v1' as const,
        kind: 'Image' as const,
        metadata: { name: key },
        spec: spec(key),
        source: { file: 'bench', line: 1, column: 1 },
      }));

      requests = 0;
      const start = process.hrtime.bigint();
      const observations = await observeAccount(client, state);
      const observeMs = elapsedMs(start);
      const pure = process.hrtime.bigint();
      const refreshed = refresh(state, manifests, observations, { now: new Date(), graceMs: 0 });
      const refreshMs = elapsedMs(pure);
      const bound = Math.ceil(RECORDED / 500) + 5;
      const drift = refreshed.drift.size + refreshed.changes.size + refreshed.unadopted.length;
      if (drift !== 0) throw new Error(`an untouched account showed ${drift} changes`);
      return [
        `refresh: ${RECORDED} recorded images (and ${OTHERS} others in the account) observed in ${requests} requests (target at most ${bound}${requests <= bound ? '' : ': MISSED'}); ${observeMs.toFixed(0)} ms over loopback, the pure refresh ${refreshMs.toFixed(0)} ms; no drift found`,
      ];
    } finally {
      await client.close();
      await emulator.close();
    }
  },
};
