// One daemon for three regions: each region's manifests imported on its own IMS, every image in
// /status, the other regions' projects found through IAM.
import { afterEach, describe, expect, it } from 'vitest';
import { allDaemonOutput, cleanup, SECRET_KEY, startEmulator, Workspace } from '../support/watch-harness.js';

const REGIONS = ['ap-southeast-1', 'cn-north-4', 'eu-west-101'] as const;

afterEach(async () => {
  await cleanup();
  const leaked = allDaemonOutput.splice(0).find((text) => text.includes(SECRET_KEY));
  expect(leaked, 'a daemon printed HW_SECRET_KEY').toBeUndefined();
});

describe('imsync watch: several regions', () => {
  it('reconciles the manifests of three regions, each on its own IMS', async () => {
    const emulator = await startEmulator(['--regions', REGIONS.join(','), '--job-seconds', '1']);
    const exported = (name: string) => new RegExp(`${name}=(\\S+)`).exec(emulator.stdout())![1]!;
    const workspace = await Workspace.create();
    for (const region of REGIONS) await workspace.put(`img-${region}`, {}, { region });
    const daemon = workspace.watch(
      emulator,
      REGIONS.flatMap((region) => ['--region', region]),
      {
        env: {
          IMSYNC_ENDPOINTS: exported('IMSYNC_ENDPOINTS'),
          IMSYNC_OBS_ENDPOINTS: exported('IMSYNC_OBS_ENDPOINTS'),
          IMSYNC_IAM_ENDPOINT: exported('IMSYNC_IAM_ENDPOINT'),
        },
      },
    );
    const keys = REGIONS.map((region) => `img-${region}`);
    await daemon.waitForPhase(keys, 'succeeded', 30_000);
    for (const region of REGIONS) {
      const answer = await fetch(`${emulator.url}/__emulator/images?region=${region}`);
      const { images } = (await answer.json()) as { images: { tags: string[] }[] };
      expect(
        images.map((image) => image.tags.find((tag) => tag.startsWith('imsync-key='))),
        region,
      ).toEqual([`imsync-key=img-${region}`]);
    }
    const state = await workspace.state();
    expect(Object.keys(state.account?.regions ?? {}).sort()).toEqual([...REGIONS]);
  });
});
