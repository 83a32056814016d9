// The package users install: `npm pack` of a clean copy of the checkout (its `prepare` builds it,
// with the checkout's dev dependencies), installed globally into an empty prefix, and its `imsync`
// run from there, away from the repository: --version, validate, apply and watch on the examples.
// The install takes the dependencies from the npm registry, or from the npm cache when it has them.
import { execFileSync, spawn } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, cp, mkdir, mkdtemp, readFile, readdir, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/run-cli.js';

const temporary: string[] = [];
afterAll(async () => {
  for (const dir of temporary) await rm(dir, { recursive: true, force: true });
});

/** The environment of npm run by a test: this one's, without what an `npm test` that runs it set. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
}

/** What a checkout holds: the files git tracks or would (not ignored), as they are in the work tree. */
async function cleanCopy(into: string): Promise<void> {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  for (const file of new Set(listed.split('\0').filter((f) => f !== '' && existsSync(join(repoRoot, f))))) {
    await mkdir(dirname(join(into, file)), { recursive: true });
    await cp(join(repoRoot, file), join(into, file), { verbatimSymlinks: true });
  }
  // The dev dependencies `prepare` builds with, as `npm ci` would have installed them.
  await symlink(join(repoRoot, 'node_modules'), join(into, 'node_modules'));
}

interface Packed {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly { readonly path: string }[];
}

/** Runs `bin` until it logs that it is watching, asks /healthz, stops it with SIGTERM: its exit code. */
async function watchOnce(bin: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child = spawn(bin, ['watch', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const listen = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "watching" line within 30 s:\n${out}\n${err}`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.includes('"msg":"watching"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { listen: string }).listen);
    });
    void exited.then((code) => reject(new Error(`imsync watch exited ${code} first:\n${out}\n${err}`)));
  });
  const health = await fetch(`${listen}/healthz`);
  child.kill('SIGTERM');
  return { health: health.status, code: await exited, stderr: err };
}

describe('npm pack', () => {
  it('makes a package whose imsync, installed into an empty prefix, validates, applies and watches the examples', async () => {
    const root = await realpath(await mkdtemp(join(tmpdir(), 'imsync-package-')));
    temporary.push(root);
    const checkout = join(root, 'checkout');
    await cleanCopy(checkout);

    // Packed as `npm publish` would pack it: `prepare` compiles src/ into the copy's dist/.
    const packOutput = execFileSync('npm', ['pack', '--json', '--pack-destination', root], {
      cwd: checkout,
      env: npmEnv(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [packed] = JSON.parse(packOutput) as Packed[];
    const paths = packed!.files.map((file) => file.path);
    console.info(
      `npm pack: ${packed!.filename}, ${(packed!.size / 1024).toFixed(0)} kB packed, ` +
        `${(packed!.unpackedSize / 1024).toFixed(0)} kB unpacked, ${paths.length} files`,
    );

    // Compiled code, its source maps, the JSON schemas and the package's own files; nothing else.
    const unexpected = paths.filter(
      (path) =>
        !/^(package\.json|README\.md|LICENSE)$|^dist\/.+\.js(\.map)?$|^schemas\/[a-z-]+\.schema\.json$/.test(path),
    );
    expect(unexpected).toEqual([]);
    expect(paths.filter((path) => /\.ts$|(^|\/)tests?\/|\.test\./.test(path))).toEqual([]);
    // One compiled file for each source file, and none for a source that is gone.
    const compiled = paths.filter((path) => path.endsWith('.js')).map((path) => path.replace(/^dist\/(.+)\.js$/, '$1'));
    const sources = (await readdir(join(checkout, 'src'), { recursive: true }))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.replace(/\.ts$/, ''));
    expect(compiled.sort()).toEqual(sources.sort());
    expect(packed!.size).toBeLessThan(1024 * 1024);
    expect(packed!.unpackedSize).toBeLessThan(5 * 1024 * 1024);

    // No secret: no key, environment, npm or state file, and no private key in any file.
    expect(
      paths.filter((path) => /(^|\/)(\.env|\.npmrc|id_[a-z0-9]+)$|\.(pem|key|p12)$|state\.json/.test(path)),
    ).toEqual([]);
    const unpacked = join(root, 'unpacked');
    await mkdir(unpacked);
    execFileSync('tar', ['-xzf', join(root, packed!.filename), '-C', unpacked]);
    for (const path of paths) {
      expect(await readFile(join(unpacked, 'package', path), 'utf8'), path).not.toMatch(
        /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
      );
    }

    const prefix = join(root, 'prefix');
    await mkdir(prefix);
    execFileSync(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(root, packed!.filename),
      ],
      { cwd: root, env: npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(await readdir(join(prefix, 'bin'))).toEqual(['imsync']);
    const imsync = join(prefix, 'bin', 'imsync');
    await access(imsync, constants.X_OK);

    // Run as a user would: from a directory of its own, with node on the PATH and nothing else.
    const work = join(root, 'work');
    await cp(join(checkout, 'manifests'), join(work, 'manifests'), { recursive: true });
    const env = {
      PATH: [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter),
      HOME: work,
      NO_COLOR: '1',
    };
    const run = (args: readonly string[]) => execFileSync(imsync, args, { cwd: work, env, encoding: 'utf8' });

    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(run(['--version']).trim()).toBe(version);
    expect(run(['validate', join(checkout, 'manifests')])).toBe('8 manifests in 3 files: valid\n');
    const applied = run([
      'apply',
      'manifests/',
      '--emulator',
      '--auto-approve',
      '--state',
      join(root, 'apply.state.json'),
    ]);
    expect(applied).toMatch(/^Apply complete: 8 imported, 0 updated, 0 deleted, 0 failed in /m);

    const watched = await watchOnce(
      imsync,
      ['manifests/', '--emulator', '--state', join(root, 'watch.state.json'), '--listen', '127.0.0.1:0'],
      work,
      env,
    );
    expect(watched).toEqual({ health: 200, code: 0, stderr: '' });
  }, 180_000);
});
