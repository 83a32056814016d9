// loadManifests on a real file system: symbolic links to files and directories are followed, a
// file reached twice is read once, loops end, and a link to nothing or a path that is not a
// regular file (a FIFO, say) makes the whole set invalid without anything being opened.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifest/load.js';

const valid = (name: string) =>
  `apiVersion: imsync/v1\nkind: Image\nmetadata:\n  name: ${name}\nspec:\n  name: ${name}\n  image_url: golden-images:${name}.zvhd2\n  os_version: Ubuntu 22.04 server 64bit\n  min_disk: 40\n`;

/** A new directory holding `manifests/` and whatever the test puts beside it. */
async function workspace(): Promise<{ root: string; manifests: string }> {
  const root = await mkdtemp(join(tmpdir(), 'imsync-links-'));
  await mkdir(join(root, 'manifests'));
  return { root, manifests: join(root, 'manifests') };
}

const fifos: string[] = [];

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  fifos.push(path);
  return path;
}

// A reader stuck on a FIFO nobody writes to would keep the test process alive: opening it for
// writing and closing it again hands such a reader its end of file.
afterEach(() => {
  for (const fifo of fifos.splice(0)) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: nobody is reading it, which is what a passing test leaves.
    }
  }
});

describe('loadManifests follows symbolic links', () => {
  it('reads a linked manifest file and a linked manifest directory', async () => {
    const { root, manifests } = await workspace();
    await mkdir(join(root, 'shared', 'team'), { recursive: true });
    await writeFile(join(root, 'shared', 'base.yaml'), valid('base'));
    await writeFile(join(root, 'shared', 'team', 'web.yaml'), valid('web'));
    await writeFile(join(manifests, 'own.yaml'), valid('own'));
    await symlink(join(root, 'shared', 'base.yaml'), join(manifests, 'base.yaml'));
    await symlink('../shared/team', join(manifests, 'team'));

    const loaded = await loadManifests([manifests]);
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.files).toEqual([
      join(manifests, 'base.yaml'),
      join(manifests, 'own.yaml'),
      join(manifests, 'team', 'web.yaml'),
    ]);
    expect(loaded.manifests.map((m) => m.metadata.name)).toEqual(['base', 'own', 'web']);
  });

  it('reads a file reached through two links once: no duplicate name of itself', async () => {
    const { root, manifests } = await workspace();
    await mkdir(join(root, 'shared'));
    await writeFile(join(root, 'shared', 'base.yaml'), valid('base'));
    await symlink('../shared', join(manifests, 'a'));
    await symlink('../shared', join(manifests, 'b'));
    await symlink('../shared/base.yaml', join(manifests, 'again.yaml'));

    const loaded = await loadManifests([manifests, join(root, 'shared', 'base.yaml')]);
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.manifests.map((m) => m.metadata.name)).toEqual(['base']);
    expect(loaded.files).toHaveLength(1);
  });

  it('ends a loop of directory links, reading each file once', async () => {
    const { manifests } = await workspace();
    await mkdir(join(manifests, 'web'));
    await writeFile(join(manifests, 'web', 'web.yaml'), valid('web'));
    await symlink('..', join(manifests, 'web', 'up'));
    await symlink('.', join(manifests, 'self'));

    const loaded = await loadManifests([manifests]);
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.files).toEqual([join(manifests, 'web', 'web.yaml')]);
  });

  it('refuses the whole set when a link leads to nothing: a dangling file or directory link', async () => {
    const { root, manifests } = await workspace();
    await writeFile(join(manifests, 'own.yaml'), valid('own'));
    await symlink('../gone/base.yaml', join(manifests, 'base.yaml'));
    await symlink(join(root, 'unmounted'), join(manifests, 'team'));

    const loaded = await loadManifests([manifests]);
    expect(loaded.manifests).toEqual([]);
    expect(loaded.diagnostics).toEqual([
      {
        code: 'LINK_DANGLING',
        message: `${join(manifests, 'base.yaml')}: a symbolic link to ../gone/base.yaml, which does not exist`,
      },
      {
        code: 'LINK_DANGLING',
        message: `${join(manifests, 'team')}: a symbolic link to ${join(root, 'unmounted')}, which does not exist`,
      },
    ]);
  });

  it('refuses a dangling link given as a path, and a link that leads back to itself', async () => {
    const { manifests } = await workspace();
    await symlink('missing.yaml', join(manifests, 'named.yaml'));
    await symlink('ping.yaml', join(manifests, 'pong.yaml'));
    await symlink('pong.yaml', join(manifests, 'ping.yaml'));

    const named = await loadManifests([join(manifests, 'named.yaml')]);
    expect(named.diagnostics.map((d) => d.code)).toEqual(['LINK_DANGLING']);
    const loop = await loadManifests([join(manifests, 'ping.yaml')]);
    expect(loop.diagnostics).toEqual([
      {
        code: 'LINK_LOOP',
        message: `${join(manifests, 'ping.yaml')}: a loop of symbolic links, leading to no file`,
      },
    ]);
  });

  it('leaves alone the link Emacs makes while a file is being edited', async () => {
    const { manifests } = await workspace();
    await writeFile(join(manifests, 'web.yaml'), valid('web'));
    await symlink('someone@host.1234:1700000000', join(manifests, '.#web.yaml'));

    const loaded = await loadManifests([manifests]);
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.manifests.map((m) => m.metadata.name)).toEqual(['web']);
  });
});

describe('loadManifests reads only regular files', () => {
  // Opened, a FIFO nobody writes to would hang the load: here the test would time out.
  it('refuses a FIFO given as a path, without opening it', { timeout: 5000 }, async () => {
    const { manifests } = await workspace();
    const fifo = mkfifo(join(manifests, 'pipe.yaml'));

    const loaded = await loadManifests([fifo]);
    expect(loaded.diagnostics).toEqual([
      {
        code: 'FILE_NOT_REGULAR',
        message: `${fifo}: a FIFO, not a regular file or a directory; manifests are read from regular files`,
      },
    ]);
  });

  it('refuses a FIFO found in a directory, or reached by a link, and ignores one not named as a manifest', async () => {
    const { root, manifests } = await workspace();
    await writeFile(join(manifests, 'web.yaml'), valid('web'));
    mkfifo(join(manifests, 'pipe.yaml'));
    mkfifo(join(manifests, 'notes'));
    await symlink(mkfifo(join(root, 'elsewhere')), join(manifests, 'linked.yml'));

    const loaded = await loadManifests([manifests]);
    expect(loaded.manifests).toEqual([]);
    expect(loaded.diagnostics.map((d) => [d.code, d.message.split(':')[0]])).toEqual([
      ['FILE_NOT_REGULAR', join(manifests, 'linked.yml')],
      ['FILE_NOT_REGULAR', join(manifests, 'pipe.yaml')],
    ]);
  });
});

describe('loadManifests, reading again only what changed', () => {
  const doc = (name: string, image = `${name}.zvhd2`) => valid(name).replace(`${name}.zvhd2`, image);
  const urls = (result: { manifests: readonly { spec: { image_url: string } }[] }) =>
    result.manifests.map((m) => m.spec.image_url);

  it('reads the changed and the new files, takes the others as read before, and drops the removed', async () => {
    const { manifests } = await workspace();
    for (const name of ['a', 'b', 'c']) await writeFile(join(manifests, `${name}.yaml`), doc(name));
    const first = await loadManifests([manifests]);
    // b and c change on disk, but only b is said to: c is taken as read before.
    await writeFile(join(manifests, 'b.yaml'), doc('b', 'b2.zvhd2'));
    await writeFile(join(manifests, 'c.yaml'), doc('c', 'c2.zvhd2'));
    await writeFile(join(manifests, 'd.yaml'), doc('d'));
    await rm(join(manifests, 'a.yaml'));
    const changed = new Set([join(manifests, 'b.yaml'), join(manifests, 'a.yaml')]);
    const next = await loadManifests([manifests], { read: first.read, changed });
    expect(urls(next)).toEqual(['golden-images:b2.zvhd2', 'golden-images:c.zvhd2', 'golden-images:d.zvhd2']);
    expect([...next.read.keys()]).toEqual(['b', 'c', 'd'].map((name) => join(manifests, `${name}.yaml`)));
  });

  it('reads everything again when a change names a path it cannot place (a directory, another link)', async () => {
    const { manifests } = await workspace();
    for (const name of ['a', 'b']) await writeFile(join(manifests, `${name}.yaml`), doc(name));
    const first = await loadManifests([manifests]);
    await writeFile(join(manifests, 'a.yaml'), doc('a', 'a2.zvhd2'));
    const changed = new Set([join(manifests, 'sub')]);
    expect(urls(await loadManifests([manifests], { read: first.read, changed }))).toEqual([
      'golden-images:a2.zvhd2',
      'golden-images:b.zvhd2',
    ]);
  });

  it('finds a duplicate name across a changed file and one read before', async () => {
    const { manifests } = await workspace();
    for (const name of ['a', 'b']) await writeFile(join(manifests, `${name}.yaml`), doc(name));
    const first = await loadManifests([manifests]);
    await writeFile(join(manifests, 'b.yaml'), doc('a'));
    const next = await loadManifests([manifests], { read: first.read, changed: new Set([join(manifests, 'b.yaml')]) });
    expect(next.diagnostics.map((d) => d.code)).toEqual(['NAME_DUPLICATE']);
    expect(next.manifests).toEqual([]);
  });
});
