// The pre-flight's cost (issue: bounded cost): `imsync plan` of 1,000 new images against the
// emulator's OBS, the first time and the second, and the requests each sends to OBS. The second
// plan finds every file in the cache the first one kept in the state: it asks OBS nothing.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulatorEnv, spawnEmulator } from '../support/emulator-process.js';
import { manifestYaml } from '../support/specs.js';
import { ms, ROOT, type BenchSection } from './bench.js';

const IMAGES = 1000;

interface LoggedRequest {
  readonly service?: 'obs';
}

export const preflightBench: BenchSection = {
  name: 'preflight',
  async run() {
    const dir = await mkdtemp(join(tmpdir(), 'imsync-bench-preflight-'));
    const emulator = await spawnEmulator(['--quota', String(IMAGES + 1)]);
    try {
      const env = emulatorEnv(emulator);
      const state = join(dir, 'imsync.state.json');
      const imsync = (...args: string[]) => {
        const start = process.hrtime.bigint();
        const result = spawnSync(process.execPath, ['dist/cli/main.js', ...args, '--state', state], {
          cwd: ROOT,
          env,
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        });
        if (result.status !== 0) throw new Error(`imsync ${args[0]} exited ${result.status}: ${result.stderr}`);
        return Number(process.hrtime.bigint() - start) / 1e6;
      };
      const obsRequests = async () => {
        const answer = await fetch(`${emulator.url}/__emulator/requests`);
        return ((await answer.json()) as { requests: LoggedRequest[] }).requests.filter((r) => r.service === 'obs')
          .length;
      };
      // A state to keep the cache in: one image applied first. The default OBS world has every
      // .zvhd2 and .raw file (with its bitmap) in every bucket; half the files here are RAW.
      await mkdir(join(dir, 'first'));
      await writeFile(join(dir, 'first', 'image.yaml'), manifestYaml('seed', 'golden:seed.zvhd2'));
      imsync('apply', join(dir, 'first'), '--auto-approve');
      await mkdir(join(dir, 'many'));
      await writeFile(
        join(dir, 'many', 'images.yaml'),
        Array.from({ length: IMAGES }, (_, i) =>
          manifestYaml(`image-${i}`, `golden:image-${i}.${i % 2 === 0 ? 'zvhd2' : 'raw'}`),
        ).join('---\n'),
      );
      const lines: string[] = [];
      let before = await obsRequests();
      const times: number[] = [];
      const counts: number[] = [];
      for (let run = 0; run < 2; run++) {
        times.push(imsync('plan', join(dir, 'many')));
        const after = await obsRequests();
        counts.push(after - before);
        before = after;
      }
      lines.push(
        `preflight: plan of ${IMAGES} new images (half RAW, with bitmaps), one bucket: first ${counts[0]} OBS requests in ${ms(times[0]!)}, second ${counts[1]} in ${ms(times[1]!)}`,
      );
      return lines;
    } finally {
      emulator.kill();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
