// `watch --git`'s flags and environment: each mistake refused before anything starts, naming the
// flag or variable, and never showing a token.
import { describe, expect, it } from 'vitest';
import { gitSetting, type GitFlags } from '../../src/cli/git-flags.js';
import { UsageError } from '../../src/cli/config.js';

const URL = 'https://github.com/acme/golden-images.git';

describe('gitSetting', () => {
  it('takes the defaults: main, the root, every minute, a cache of its own under ~/.cache', () => {
    const { source, intervalMs, path } = gitSetting({ git: URL }, { HOME: '/home/ops' });
    expect([source.url, source.ref, path, intervalMs]).toEqual([URL, 'main', '', 60_000]);
  });

  it.each<[string, GitFlags, NodeJS.ProcessEnv, string]>([
    ['a URL git cannot use', { git: 'github.com/acme/x' }, {}, '--git "github.com/acme/x" must be an https://'],
    ['a bad ref', { git: URL, ref: 'a..b' }, {}, '--ref "a..b" is not a branch'],
    ['a path outside', { git: URL, gitPath: '../x' }, {}, '--git-path "../x" must be a directory inside'],
    ['a short interval', { git: URL, gitInterval: '100ms' }, {}, '--git-interval must be at least 1s'],
    ['not a duration', { git: URL, gitInterval: 'soon' }, {}, '--git-interval "soon" is not a duration'],
    [
      'a token for ssh',
      { git: 'git@github.com:acme/x.git' },
      { IMSYNC_GIT_TOKEN: 't0ken' },
      'IMSYNC_GIT_TOKEN is for an https://',
    ],
    ['an empty token', { git: URL }, { IMSYNC_GIT_TOKEN: ' ' }, 'IMSYNC_GIT_TOKEN is empty'],
    ['an ssh key for https', { git: URL, gitSshKey: 'id' }, {}, '--git-ssh-key and --git-known-hosts are for an ssh'],
  ])('refuses %s', (_, flags, env, message) => {
    let thrown: unknown;
    try {
      gitSetting(flags, env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toContain(message);
    expect((thrown as Error).message).not.toContain('t0ken');
  });
});
