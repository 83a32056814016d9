// A PostgreSQL cluster of a test's own (initdb, pg_ctl as the postgres user), for what the shared
// server must not suffer: a restart, a partition. Needs root, as runuser does.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = '/usr/lib/postgresql/15/bin';

export const run = (command: string, ...args: string[]) => execFileSync(command, args, { stdio: 'pipe' });
const asPostgres = (command: string, ...args: string[]) => run('runuser', '-u', 'postgres', '--', command, ...args);

export interface Cluster {
  readonly address: string;
  readonly port: number;
  /** A state location on it (trust authentication, TLS off). */
  readonly location: string;
  restart(): void;
  stop(): Promise<void>;
}

/** Starts a cluster listening on `address`, trusting connections from `trusted` (CIDR). */
export async function startCluster(address: string, trusted: string): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'imsync-test-pg-'));
  const data = join(dir, 'data');
  const port = 56_000 + randomInt(0, 1000);
  const pgCtl = (...args: string[]) => asPostgres(`${BIN}/pg_ctl`, '-D', data, ...args);
  // Given again at a restart: without -l, the server would write to (and hold open) pg_ctl's stdout.
  const serverOptions = ['-o', `-c listen_addresses=${address} -p ${port} -k ${dir}`, '-l', join(dir, 'log')];
  try {
    await chown(dir, Number(run('id', '-u', 'postgres')), Number(run('id', '-g', 'postgres')));
    asPostgres(`${BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres');
    await appendFile(join(data, 'pg_hba.conf'), `host all all ${trusted} trust\n`);
    pgCtl(...serverOptions, '-w', 'start');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    address,
    port,
    location: `postgres://postgres@${address}:${port}/postgres?schema=imsync&sslmode=disable`,
    restart: () => pgCtl(...serverOptions, '-m', 'fast', '-w', 'restart'),
    stop: async () => {
      try {
        pgCtl('-m', 'immediate', 'stop');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
