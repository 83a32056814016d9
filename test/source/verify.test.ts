// Commit verification against real signatures: ssh-keygen and gpg make the keys, git signs
// commits in a bare repository with them, and verifyCommit checks those commits with the keys
// a key file allows. The key file parser and the verdicts on git's answers are tables.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, GitError } from '../../src/source/git-command.js';
import {
  judge,
  loadSigningKeys,
  parseKeyFile,
  signatureFormat,
  SigningKeysError,
  verifyCommit,
  type SignatureCheck,
  type SigningKeys,
} from '../../src/source/verify.js';

const run = promisify(execFile);
/** git's empty tree, which every repository has. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const AUTHOR = { 'user.name': 'Test', 'user.email': 't@example.com' };

/** A real ed25519 public key, for the parser's tables. */
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIGafS9L+BGIuFUbKRGjLsCZngBE/FumEVWXDhVlsPWhS';
/** The same bytes announced as another key type. */
const RSA_CLAIM = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.alloc(8)]).toString(
  'base64',
);

describe('parseKeyFile', () => {
  it.each([
    ['an allowed signer', `alice@example.com ssh-ed25519 ${ED25519} laptop`, 'alice@example.com', undefined],
    [
      'several principals',
      `alice@example.com,bob@example.com ssh-ed25519 ${ED25519}`,
      'alice@example.com,bob@example.com',
      undefined,
    ],
    [
      'options',
      `alice@example.com namespaces="git,file",valid-after="20240101" ssh-ed25519 ${ED25519}`,
      'alice@example.com',
      'namespaces="git,file",valid-after="20240101"',
    ],
    ['cert-authority', `*@example.com cert-authority ssh-ed25519 ${ED25519}`, '*@example.com', 'cert-authority'],
    ['a bare public key, for any principal', `ssh-ed25519 ${ED25519} alice@laptop`, '*', undefined],
    ['a bare public key without a comment', `  ssh-ed25519 ${ED25519}\r`, '*', undefined],
  ])('reads %s', (_, line, principals, options) => {
    expect(parseKeyFile(`# team keys\n\n${line}\n`, 'keys')).toEqual({
      kind: 'ssh',
      signers: [{ line: 3, principals, ...(options ? { options } : {}), keyType: 'ssh-ed25519', key: ED25519 }],
    });
  });

  it('reads OpenPGP public key blocks, with blank lines and comments between them', () => {
    const block = (n: number) =>
      `-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbase64 ${n}\n-----END PGP PUBLIC KEY BLOCK-----`;
    expect(parseKeyFile(`# release keys\n${block(1)}\n\n${block(2)}\n`, 'keys.asc')).toEqual({
      kind: 'gpg',
      blocks: [
        { line: 2, text: `${block(1)}\n` },
        { line: 7, text: `${block(2)}\n` },
      ],
    });
  });

  it.each([
    ['an empty file', '', 'keys: holds no signing keys'],
    ['only comments', '# nobody yet\n\n', 'keys: holds no signing keys'],
    ['a key type misspelt', `alice ssh-ed2551 ${ED25519}`, 'keys line 2: not an allowed signer'],
    ['principals only', 'alice@example.com', 'keys line 2: not an allowed signer'],
    ['a key without its data', 'alice@example.com ssh-ed25519', 'keys line 2: the ssh-ed25519 key has no key data'],
    [
      'key data that is not base64',
      'alice ssh-ed25519 AAAA$$$$',
      "keys line 2: the ssh-ed25519 key's data is not base64",
    ],
    [
      'key data cut short',
      `alice ssh-ed25519 ${ED25519.slice(0, 12)}`,
      "keys line 2: the ssh-ed25519 key's data is not base64",
    ],
    [
      'key data of another type',
      `alice ssh-ed25519 ${RSA_CLAIM}`,
      "keys line 2: the key's data is not an ssh-ed25519 key",
    ],
    ['an unknown option', `alice no-touch-required ssh-ed25519 ${ED25519}`, 'keys line 2: the options'],
    ['an option without its value', `alice namespaces ssh-ed25519 ${ED25519}`, 'keys line 2: the options'],
    ['an unclosed quote', `alice namespaces="git ssh-ed25519 ${ED25519}`, 'keys line 2: a quote that is not closed'],
    ['an SSH private key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=', 'keys line 2: a private key'],
    ['an OpenPGP private key', '-----BEGIN PGP PRIVATE KEY BLOCK-----', 'keys line 2: a private key'],
    [
      'another armored block',
      '-----BEGIN PGP SIGNATURE-----',
      'keys line 2: an armored block that is not an OpenPGP public key block',
    ],
    [
      'SSH lines beside an OpenPGP block',
      `-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----\nalice ssh-ed25519 ${ED25519}`,
      'keys line 4: text outside an OpenPGP public key block',
    ],
    ['a block without its end', '-----BEGIN PGP PUBLIC KEY BLOCK-----\nbase64', 'keys line 2: the block has no'],
    [
      'a block inside a block',
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----',
      'keys line 3: a block begins before the one at line 2 ends',
    ],
    [
      'an end without a beginning',
      '-----END PGP PUBLIC KEY BLOCK-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----',
      'keys line 2: the end of a block that did not begin',
    ],
  ])('refuses %s, naming the file and the line', (_, line, message) => {
    const text = line === '' || line.startsWith('#') ? line : `# team keys\n${line}\n`;
    expect(() => parseKeyFile(text, 'keys')).toThrow(SigningKeysError);
    expect(() => parseKeyFile(text, 'keys')).toThrow(message);
  });

  it('never quotes the file: a secret given by mistake stays out of the message', () => {
    const secret = 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB';
    expect(() => parseKeyFile(`token ${secret}\n`, 'token.txt')).toThrow(/^token\.txt line 1: not an allowed signer/);
    expect(() => parseKeyFile(`token ${secret}\n`, 'token.txt')).not.toThrow(secret);
  });
});

describe('signatureFormat', () => {
  const commit = (tree: string, header?: string) =>
    [
      `tree ${tree}`,
      'author T <t@example.com> 1 +0000',
      ...(header ? [header, ' body'] : []),
      '',
      'gpgsig -----BEGIN SSH SIGNATURE----- in the message',
    ].join('\n');
  it.each([
    ['unsigned', commit(EMPTY_TREE), undefined],
    ['OpenPGP', commit(EMPTY_TREE, 'gpgsig -----BEGIN PGP SIGNATURE-----'), 'openpgp'],
    ['OpenPGP, as a message', commit(EMPTY_TREE, 'gpgsig -----BEGIN PGP MESSAGE-----'), 'openpgp'],
    ['SSH', commit(EMPTY_TREE, 'gpgsig -----BEGIN SSH SIGNATURE-----'), 'ssh'],
    ['X.509', commit(EMPTY_TREE, 'gpgsig -----BEGIN SIGNED MESSAGE-----'), 'x509'],
    ['something else', commit(EMPTY_TREE, 'gpgsig hello'), 'unknown'],
    [
      'SHA-256 signature in a SHA-1 repository',
      commit(EMPTY_TREE, 'gpgsig-sha256 -----BEGIN SSH SIGNATURE-----'),
      undefined,
    ],
    [
      'SHA-256 signature in a SHA-256 repository',
      commit('a'.repeat(64), 'gpgsig-sha256 -----BEGIN SSH SIGNATURE-----'),
      'ssh',
    ],
    [
      'SHA-1 signature in a SHA-256 repository',
      commit('a'.repeat(64), 'gpgsig -----BEGIN SSH SIGNATURE-----'),
      undefined,
    ],
  ])('%s', (_, raw, format) => {
    expect(signatureFormat(raw)).toBe(format);
  });
});

describe('judge', () => {
  const ssh = { kind: 'ssh', file: 'keys' } as const;
  const gpg = { kind: 'gpg', file: 'keys.asc' } as const;
  const check = (status: string, fields: Partial<SignatureCheck> = {}): SignatureCheck => ({
    status,
    key: '',
    primaryKey: '',
    signer: '',
    ...fields,
  });
  it.each([
    [
      ssh,
      check('G', { key: 'SHA256:abc', signer: 'alice@example.com' }),
      { verified: true, signer: 'alice@example.com (SHA256:abc)' },
    ],
    [ssh, check('G', { key: 'SHA256:abc', signer: '*' }), { verified: true, signer: 'SHA256:abc' }],
    [
      gpg,
      check('G', { key: '6B7C9ABC', primaryKey: '727AA2D2', signer: 'Test <t@example.com>' }),
      { verified: true, signer: 'Test <t@example.com> (key 727AA2D2)' },
    ],
    [
      ssh,
      check('U', { key: 'SHA256:abc' }),
      { verified: false, reason: 'commit abc1234 is signed by a key not allowed by keys (SHA256:abc)' },
    ],
    [
      gpg,
      check('E', { key: '23C2B7F0' }),
      { verified: false, reason: 'commit abc1234 is signed by a key not allowed by keys.asc (key 23C2B7F0)' },
    ],
    [
      gpg,
      check('U', { key: '6B7C9ABC', primaryKey: '727AA2D2' }),
      { verified: false, reason: 'commit abc1234 is signed by a key gpg does not hold valid (key 727AA2D2)' },
    ],
    [ssh, check('E'), { verified: false, reason: 'commit abc1234 has a signature that could not be checked' }],
    [
      ssh,
      check('B'),
      { verified: false, reason: 'commit abc1234 has a bad signature: the commit was changed after it was signed' },
    ],
    [
      gpg,
      check('B', { key: '6B7C9ABC' }),
      {
        verified: false,
        reason: 'commit abc1234 has a bad signature (key 6B7C9ABC): the commit was changed after it was signed',
      },
    ],
    [
      gpg,
      check('X', { key: '6B7C9ABC', primaryKey: '727AA2D2' }),
      { verified: false, reason: 'commit abc1234 has an expired signature (key 727AA2D2)' },
    ],
    [
      gpg,
      check('Y', { key: '6B7C9ABC', primaryKey: '727AA2D2' }),
      { verified: false, reason: 'commit abc1234 is signed by an expired key (key 727AA2D2)' },
    ],
    [
      gpg,
      check('R', { key: '6B7C9ABC', primaryKey: '727AA2D2' }),
      { verified: false, reason: 'commit abc1234 is signed by a revoked key (key 727AA2D2)' },
    ],
    [ssh, check('N'), { verified: false, reason: 'commit abc1234 has a signature git could not read' }],
  ])('%j %j', (keys, answer, verification) => {
    expect(judge('abc1234', keys, answer)).toEqual(verification);
  });

  it('shows what git passes on from a signature without terminal escapes', () => {
    const answer = check('G', { key: 'SHA256:abc', signer: 'alice\u001b]0;owned\u0007@example.com' });
    expect(judge('abc1234', ssh, answer)).toEqual({ verified: true, signer: 'alice@example.com (SHA256:abc)' });
  });
});

describe('verifyCommit', () => {
  let root: string;
  let repo: string;
  /** Homes whose agents signing started, to stop at the end. */
  const signingHomes: string[] = [];
  const commits: Record<string, string> = {};
  const keyFiles: Record<string, string> = {};
  const opened: SigningKeys[] = [];
  let gpgFingerprint: string;
  /** Where broken.asc's second, broken, block begins. */
  let brokenLine: number;

  const open = async (file: string) => {
    const keys = await loadSigningKeys(file);
    opened.push(keys);
    return keys;
  };

  async function sshKey(name: string, comment: string): Promise<{ file: string; publicKey: string }> {
    const file = join(root, name);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
    return { file, publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() };
  }

  /** A new GnuPG home with one signing key; its fingerprint and armored public key. */
  async function gpgKey(name: string, uid: string): Promise<{ home: string; fingerprint: string; armored: string }> {
    const home = await mkdtemp(join(root, `${name}-`));
    signingHomes.push(home);
    const env = { ...process.env, GNUPGHOME: home };
    const made = await run(
      'gpg',
      ['--batch', '--status-fd', '1', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'],
      { env },
    );
    const fingerprint = /KEY_CREATED P ([0-9A-F]+)/.exec(made.stdout)![1]!;
    const armored = (await run('gpg', ['--batch', '--armor', '--export', fingerprint], { env })).stdout;
    return { home, fingerprint, armored };
  }

  const inRepo = (config: Record<string, string> = {}, env: Record<string, string> = {}) => ({
    env: { GIT_DIR: repo, ...env },
    config: { ...AUTHOR, ...config },
  });
  const commit = async (message: string, config?: Record<string, string>, env?: Record<string, string>) =>
    (await git(['commit-tree', ...(config ? ['-S'] : []), '-m', message, EMPTY_TREE], inRepo(config, env))).trim();
  const sshSigned = (message: string, keyFile: string) =>
    commit(message, { 'gpg.format': 'ssh', 'user.signingkey': keyFile });
  const gpgSigned = (message: string, key: { home: string; fingerprint: string }) =>
    commit(message, { 'user.signingkey': key.fingerprint }, { GNUPGHOME: key.home });

  /** The commit with its message changed and its signature kept, as a forger would write it. */
  async function tampered(id: string): Promise<string> {
    const raw = await git(['cat-file', 'commit', id], inRepo());
    const file = join(root, `tampered-${id}`);
    await writeFile(file, raw.replace(/\n\n[\s\S]*$/, '\n\nsomething else\n'));
    return (await git(['hash-object', '-t', 'commit', '-w', file], inRepo())).trim();
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'imsync-verify-'));
    repo = join(root, 'repo.git');
    await git(['init', '--bare', '--quiet', repo]);

    const alice = await sshKey('alice', 'alice@laptop');
    const mallory = await sshKey('mallory', 'mallory@laptop');
    const test = await gpgKey('gpg-test', 'Test <t@example.com>');
    const other = await gpgKey('gpg-other', 'Other <o@example.com>');
    gpgFingerprint = test.fingerprint;

    commits.unsigned = await commit('unsigned');
    commits.alice = await sshSigned('by alice', alice.file);
    commits.mallory = await sshSigned('by mallory', mallory.file);
    commits.test = await gpgSigned('by test', test);
    commits.other = await gpgSigned('by other', other);
    commits.aliceTampered = await tampered(commits.alice);
    commits.testTampered = await tampered(commits.test);

    const keyFile = async (name: string, text: string) => {
      keyFiles[name] = join(root, name);
      await writeFile(keyFiles[name], text);
    };
    const [aliceType, aliceKey] = alice.publicKey.split(' ');
    await keyFile('allowed_signers', `# who may sign\nalice@example.com namespaces="git" ${aliceType} ${aliceKey}\n`);
    await keyFile('alice.pub', `${alice.publicKey}\n`);
    await keyFile('test.asc', test.armored);
    await keyFile('both.asc', `${other.armored}\n${test.armored}`);
    brokenLine = test.armored.split('\n').length + 1;
    await keyFile('broken.asc', `${test.armored}\n${other.armored.replace(/^(-----BEGIN.*\n\n)./m, '$1!')}`);
    await keyFile('empty', '');
    await keyFile('malformed', `alice@example.com ssh-ed25519 ${aliceKey}\nbob@example.com ssh-ed25519\n`);
  });

  afterAll(async () => {
    await Promise.all(opened.map((keys) => keys.close()));
    for (const home of signingHomes) {
      await run('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } });
    }
    await rm(root, { recursive: true, force: true });
  });

  it('passes a commit signed by an allowed SSH key, naming its principal and fingerprint', async () => {
    const keys = await open(keyFiles.allowed_signers!);
    expect({ kind: keys.kind, count: keys.count }).toEqual({ kind: 'ssh', count: 1 });
    expect(await verifyCommit(repo, commits.alice!, keys)).toEqual({
      verified: true,
      signer: expect.stringMatching(/^alice@example\.com \(SHA256:[A-Za-z0-9+/]{43}\)$/) as unknown,
    });
  });

  it('passes a commit signed by a bare SSH public key (a .pub file), naming its fingerprint', async () => {
    const keys = await open(keyFiles['alice.pub']!);
    expect(await verifyCommit(repo, commits.alice!, keys)).toEqual({
      verified: true,
      signer: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/) as unknown,
    });
  });

  it('passes a commit signed by an allowed GPG key, naming its user id and fingerprint', async () => {
    const keys = await open(keyFiles['test.asc']!);
    expect({ kind: keys.kind, count: keys.count }).toEqual({ kind: 'gpg', count: 1 });
    expect(await verifyCommit(repo, commits.test!, keys)).toEqual({
      verified: true,
      signer: `Test <t@example.com> (key ${gpgFingerprint})`,
    });
  });

  it('allows every key of a file with several OpenPGP blocks', async () => {
    const keys = await open(keyFiles['both.asc']!);
    expect(keys.count).toBe(2);
    expect(await verifyCommit(repo, commits.test!, keys)).toMatchObject({ verified: true });
    expect(await verifyCommit(repo, commits.other!, keys)).toMatchObject({
      verified: true,
      signer: expect.stringContaining('Other <o@example.com>') as unknown,
    });
  });

  it.each([
    ['allowed_signers', 'unsigned', /^commit [0-9a-f]{7} is not signed$/],
    ['test.asc', 'unsigned', /^commit [0-9a-f]{7} is not signed$/],
    [
      'allowed_signers',
      'mallory',
      /^commit [0-9a-f]{7} is signed by a key not allowed by .*allowed_signers \(SHA256:[A-Za-z0-9+/]{43}\)$/,
    ],
    ['test.asc', 'other', /^commit [0-9a-f]{7} is signed by a key not allowed by .*test\.asc \(key [0-9A-F]{16}\)$/],
    [
      'allowed_signers',
      'aliceTampered',
      /^commit [0-9a-f]{7} has a bad signature: the commit was changed after it was signed$/,
    ],
    [
      'test.asc',
      'testTampered',
      /^commit [0-9a-f]{7} has a bad signature \(key [0-9A-F]{16}\): the commit was changed after it was signed$/,
    ],
    [
      'allowed_signers',
      'test',
      /^commit [0-9a-f]{7} has an OpenPGP \(GPG\) signature, and the keys allowed by .*allowed_signers are SSH keys$/,
    ],
    [
      'test.asc',
      'alice',
      /^commit [0-9a-f]{7} has an SSH signature, and the keys allowed by .*test\.asc are OpenPGP keys$/,
    ],
  ])('with %s, refuses the commit %s', async (file, name, reason) => {
    const keys = await open(keyFiles[file]!);
    const verification = await verifyCommit(repo, commits[name]!, keys);
    expect(verification).toEqual({ verified: false, reason: expect.stringMatching(reason) as unknown });
    expect(verification.verified === false && verification.reason).toContain(`commit ${commits[name]!.slice(0, 7)} `);
  });

  it('keeps the keys it read: a later edit of the file changes nothing until they are loaded again', async () => {
    const file = join(root, 'edited');
    await writeFile(file, await readFile(keyFiles.allowed_signers!, 'utf8'));
    const keys = await open(file);
    await writeFile(file, '');
    expect(await verifyCommit(repo, commits.alice!, keys)).toMatchObject({ verified: true });
  });

  it('keeps the GPG keys in a private directory that starts no agent, and close() removes it', async () => {
    const keys = await open(keyFiles['test.asc']!);
    expect((await stat(keys.directory)).mode & 0o777).toBe(0o700);
    await verifyCommit(repo, commits.test!, keys);
    expect((await readdir(keys.directory)).filter((name) => name.startsWith('S.'))).toEqual([]);
    await keys.close();
    await expect(stat(keys.directory)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(verifyCommit(repo, commits.test!, keys)).rejects.toThrow('are closed');
  });

  it('rejects when git cannot read the commit', async () => {
    const keys = await open(keyFiles.allowed_signers!);
    await expect(verifyCommit(repo, '0'.repeat(40), keys)).rejects.toThrow(GitError);
    await expect(verifyCommit(repo, '--output=/tmp/x', keys)).rejects.toThrow(GitError);
    await expect(verifyCommit(join(root, 'nothing.git'), commits.alice!, keys)).rejects.toThrow(GitError);
  });

  it.each([
    ['empty', () => /empty: holds no signing keys \(expected OpenPGP public key blocks/],
    ['malformed', () => /malformed line 2: the ssh-ed25519 key has no key data$/],
    [
      'broken.asc',
      () =>
        new RegExp(
          `broken\\.asc line ${brokenLine}: the OpenPGP public key block holds no key gpg can import \\(.+\\)$`,
        ),
    ],
    ['missing', () => /missing: cannot be read \(ENOENT/],
  ])('refuses the key file %s, naming it and the line, and leaves no directory behind', async (name, message) => {
    const before = (await readdir(tmpdir())).filter((entry) => entry.startsWith('imsync-signing-keys-'));
    await expect(loadSigningKeys(keyFiles[name] ?? join(root, name))).rejects.toThrow(message());
    const after = (await readdir(tmpdir())).filter((entry) => entry.startsWith('imsync-signing-keys-'));
    expect(after.filter((entry) => !before.includes(entry))).toEqual([]);
  });
});
