// A leading `imsync watch` cut off from its PostgreSQL state by a real partition: the database and
// the emulator are reached through a veth pair from a network namespace that the test makes, and
// then takes the link down. The leader must step down before the server frees its lock for the
// standby, so that two leaders never act at once. Needs root (namespaces, a cluster of its own).
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/state/open.js';
import { run, startCluster, type Cluster } from '../support/postgres-cluster.js';
import { cleanup, exactlyOnceProblems, startEmulator, Workspace } from '../support/watch-harness.js';

const subnet = randomInt(1, 250);
const net = {
  ns: `imsync-part-${subnet}`,
  host: `vh-imsync-${subnet}`,
  peer: `vn-imsync-${subnet}`,
  /** The host's end, where the database and the emulator listen; the namespace has .2. */
  address: `10.231.${subnet}.1`,
};
let cluster: Cluster | undefined;
let unavailable: string | undefined;

beforeAll(async () => {
  try {
    run('ip', 'netns', 'add', net.ns);
    run('ip', 'link', 'add', net.host, 'type', 'veth', 'peer', 'name', net.peer);
    run('ip', 'link', 'set', net.peer, 'netns', net.ns);
    run('ip', 'addr', 'add', `${net.address}/30`, 'dev', net.host);
    run('ip', 'link', 'set', net.host, 'up');
    run('ip', 'netns', 'exec', net.ns, 'ip', 'addr', 'add', `10.231.${subnet}.2/30`, 'dev', net.peer);
    run('ip', 'netns', 'exec', net.ns, 'ip', 'link', 'set', net.peer, 'up');
    run('ip', 'netns', 'exec', net.ns, 'ip', 'link', 'set', 'lo', 'up');
    cluster = await startCluster(net.address, `10.231.${subnet}.0/30`);
  } catch (error) {
    unavailable = `a network namespace and a PostgreSQL cluster of its own need root: ${String(error).split('\n')[0]}`;
  }
}, 60_000);

afterAll(async () => {
  await cleanup();
  await cluster?.stop();
  for (const args of [
    ['netns', 'del', net.ns],
    ['link', 'del', net.host],
  ]) {
    try {
      run('ip', ...args);
    } catch {
      // not made, or gone with the namespace
    }
  }
});

describe('imsync watch cut off from its PostgreSQL state', () => {
  it(
    'the leader steps down before the standby leads, within 15 s; the standby follows its job, sent once',
    { timeout: 120_000 },
    async ({ skip }) => {
      skip(unavailable !== undefined, unavailable);
      const emulator = await startEmulator(['--host', net.address, '--job-seconds', '3', '--faults', 'jobcap=1000']);
      const workspace = await Workspace.create();
      const { location } = cluster!;
      const flags = ['--standby', '--settle-grace', '1s', '--state', location];
      const leader = workspace.watch(emulator, flags, { netns: net.ns });
      await leader.waitForLog('leading', (line) => line.msg === 'watching');
      const standby = workspace.watch(emulator, flags);
      await standby.waitForLog('another daemon leads', (line) => line.msg === 'another daemon leads');
      await workspace.put('cut-off');
      await leader.waitForLog('cut-off submitted', (line) => line.msg === 'import.submitted' && line.key === 'cut-off');

      run('ip', 'link', 'set', net.host, 'down');
      const cut = Date.now();
      const steppedDown = await leader.waitForLog(
        'the leader stepping down',
        (line) => line.msg === 'lost the state lock: stepping down',
        30_000,
      );
      const leads = await standby.waitForLog('the standby leading', (line) => line.msg === 'watching', 60_000);
      const [down, up] = [steppedDown.time, leads.time];
      console.log(
        `partition: the leader stepped down ${down - cut} ms after the cut, the standby led ${up - cut} ms after it`,
      );
      expect(down).toBeLessThan(up);
      expect(up - cut).toBeLessThan(15_000);
      // Nothing more was sent by the old leader once it had stepped down.
      expect(leader.logs().filter((line) => line.time > down && /^import\.sub/.test(line.msg))).toEqual([]);

      await standby.waitForPhase(['cut-off'], 'succeeded', 30_000);
      expect(await exactlyOnceProblems(emulator, await openStore(location, {}).read(), ['cut-off'])).toEqual([]);
    },
  );
});
