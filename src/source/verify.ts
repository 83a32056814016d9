// Commit verification for a followed repository (`watch --git-verify FILE`): a commit is applied
// only when it is signed by one of the keys in FILE. The keys are read once into a private
// directory (a copy of the SSH allowed signers, or a GnuPG home holding the OpenPGP keys and
// nothing else), so that neither the user's keyring nor a later edit of FILE changes what passes.
//
// git does the checking (`%G?` of `git log`); this module only decides which kind of signature
// may be checked, gives git the keys, and says why a commit did not pass.
import type { CommitCheck } from './git.js';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printable, truncate } from '../text.js';
import { git } from './git-command.js';

/** A key file that cannot be used; the message names the file and the line, never quotes it. */
export class SigningKeysError extends Error {
  override readonly name = 'SigningKeysError';
}

export type KeyKind = 'ssh' | 'gpg';

/** The allowed signing keys, read by loadSigningKeys; close() removes their private copy. */
export interface SigningKeys {
  readonly kind: KeyKind;
  /** The file they were read from, for messages. */
  readonly file: string;
  /** SSH: allowed signer lines; GPG: primary keys. */
  readonly count: number;
  /** The private directory git is pointed at (the allowed signers file; GNUPGHOME). */
  readonly directory: string;
  readonly closed: boolean;
  /** Removes the private directory; verifyCommit then rejects. */
  close(): Promise<void>;
}

export type Verification = { verified: true; signer: string } | { verified: false; reason: string };

/** One line of an allowed signers file, as ssh-keygen -Y verify reads it. */
export interface AllowedSigner {
  readonly line: number;
  readonly principals: string;
  readonly options?: string;
  readonly keyType: string;
  readonly key: string;
}

export interface OpenPgpBlock {
  /** The line of its BEGIN. */
  readonly line: number;
  readonly text: string;
}

export type KeyFile =
  | { readonly kind: 'ssh'; readonly signers: readonly AllowedSigner[] }
  | { readonly kind: 'gpg'; readonly blocks: readonly OpenPgpBlock[] };

const SSH_KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);
/** The options ssh-keygen accepts on an allowed signer line (sshsig.c). */
const SIGNER_OPTION = '(?:cert-authority|(?:namespaces|valid-after|valid-before)="[^"]*")';
const SIGNER_OPTIONS = new RegExp(`^${SIGNER_OPTION}(?:,${SIGNER_OPTION})*$`, 'i');
const PUBLIC_BLOCK_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const PUBLIC_BLOCK_END = '-----END PGP PUBLIC KEY BLOCK-----';
const FORMATS = 'OpenPGP public key blocks (gpg --armor --export), or SSH allowed signers lines';
const SIGNER_LINE = '"principals [options] key-type base64-key [comment]"';

/**
 * What a key file holds. Any OpenPGP public key block makes it a GPG key file, in which only
 * blank lines and # comments may stand outside the blocks; otherwise every line that is not blank
 * or a # comment is an allowed signer, or a bare SSH public key ("key-type base64-key [comment]",
 * as in a .pub file), which is allowed for any principal ("*"): git checks the key, not the name.
 */
export function parseKeyFile(text: string, file: string): KeyFile {
  const lines = text.split(/\r?\n/);
  const at = (index: number) => `${file} line ${index + 1}`;
  const privateKey = lines.findIndex((line) => /^-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----$/.test(line.trim()));
  if (privateKey >= 0) {
    throw new SigningKeysError(
      `${at(privateKey)}: a private key; give the public keys (the .pub file, or gpg --armor --export)`,
    );
  }
  const parsed: KeyFile = lines.some((line) => line.trim() === PUBLIC_BLOCK_BEGIN)
    ? { kind: 'gpg', blocks: openPgpBlocks(lines, at) }
    : { kind: 'ssh', signers: lines.flatMap((line, index) => allowedSigner(line, index, at) ?? []) };
  if ((parsed.kind === 'gpg' ? parsed.blocks : parsed.signers).length === 0) {
    throw new SigningKeysError(`${file}: holds no signing keys (expected ${FORMATS})`);
  }
  return parsed;
}

function openPgpBlocks(lines: readonly string[], at: (index: number) => string): OpenPgpBlock[] {
  const blocks: OpenPgpBlock[] = [];
  let begin: number | undefined;
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === PUBLIC_BLOCK_BEGIN) {
      if (begin !== undefined)
        throw new SigningKeysError(`${at(index)}: a block begins before the one at line ${begin + 1} ends`);
      begin = index;
    } else if (line === PUBLIC_BLOCK_END) {
      if (begin === undefined) throw new SigningKeysError(`${at(index)}: the end of a block that did not begin`);
      blocks.push({ line: begin + 1, text: lines.slice(begin, index + 1).join('\n') + '\n' });
      begin = undefined;
    } else if (begin === undefined && line !== '' && !line.startsWith('#')) {
      throw new SigningKeysError(
        `${at(index)}: text outside an OpenPGP public key block (a key file holds either ${FORMATS})`,
      );
    }
  });
  if (begin !== undefined) throw new SigningKeysError(`${at(begin)}: the block has no "${PUBLIC_BLOCK_END}" line`);
  return blocks;
}

/** The signer on the line; undefined for a blank line or a comment. */
function allowedSigner(line: string, index: number, at: (index: number) => string): AllowedSigner | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const wrong = (why: string) => new SigningKeysError(`${at(index)}: ${why}`);
  if ((text.match(/"/g) ?? []).length % 2 !== 0) throw wrong('a quote that is not closed');
  if (text.startsWith('-----BEGIN ')) throw wrong('an armored block that is not an OpenPGP public key block');
  // Fields are separated by blanks, which a quoted part (namespaces="git,file") may contain.
  const fields = text.match(/(?:[^\s"]|"[^"]*")+/g) ?? [];
  const keyAt = fields.findIndex((field) => SSH_KEY_TYPES.has(field));
  if (keyAt < 0 || keyAt > 2) {
    throw wrong(`not an allowed signer (${SIGNER_LINE}) nor an SSH public key ("key-type base64-key [comment]")`);
  }
  const keyType = fields[keyAt]!;
  const options = keyAt === 2 ? fields[1]! : undefined;
  if (options !== undefined && !SIGNER_OPTIONS.test(options)) {
    throw wrong('the options (after the principals) are not cert-authority, namespaces, valid-after or valid-before');
  }
  const key = fields[keyAt + 1];
  if (key === undefined) throw wrong(`the ${keyType} key has no key data`);
  const type = keyBlobType(key);
  if (type === undefined) throw wrong(`the ${keyType} key's data is not base64 SSH key data`);
  if (type !== keyType) throw wrong(`the key's data is not an ${keyType} key`);
  return {
    line: index + 1,
    principals: keyAt === 0 ? '*' : fields[0]!,
    ...(options !== undefined ? { options } : {}),
    keyType,
    key,
  };
}

/** The key type an SSH public key blob names first (a length-prefixed string); undefined for no blob. */
function keyBlobType(base64: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return undefined;
  const blob = Buffer.from(base64, 'base64');
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  return 4 + length <= blob.length ? blob.subarray(4, 4 + length).toString('latin1') : undefined;
}

/** In the private directory: ssh-keygen's allowed signers (empty for GPG keys). */
const ALLOWED_SIGNERS = 'allowed_signers';
/**
 * gpg in the private home never starts an agent or dirmngr (verifying and importing public keys
 * need neither; one left running would outlive the directory) and never fetches a key.
 */
const GPG_CONF = 'no-autostart\nno-auto-key-retrieve\n';

/**
 * The allowed keys in `file`, copied to a private directory (mode 0700) that close() removes.
 * OpenPGP keys are imported into a GnuPG home of their own with ultimate ownertrust: gpg then
 * says TRUST_ULTIMATE and git `%G?` G for a good signature by any of them, and an untrusted key
 * could only be one not in the file, which is not in that keyring at all. (With `trust-model
 * always` gpg says nothing of trust: git 2.39 counts that as G too, but with a trust level left
 * undefined, which its own `%GT` aborts on; an accident to build on.)
 */
export async function loadSigningKeys(file: string): Promise<SigningKeys> {
  const text = await readFile(file, 'utf8').catch((error: Error) => {
    throw new SigningKeysError(`${file}: cannot be read (${error.message})`);
  });
  const parsed = parseKeyFile(text, file);
  const directory = await mkdtemp(join(tmpdir(), 'imsync-signing-keys-'));
  try {
    await writeFile(join(directory, 'gpg.conf'), GPG_CONF, { mode: 0o600 });
    const signers = parsed.kind === 'ssh' ? parsed.signers : [];
    await writeFile(join(directory, ALLOWED_SIGNERS), signers.map(signerLine).join(''), { mode: 0o600 });
    const count = parsed.kind === 'gpg' ? await importOpenPgpKeys(directory, parsed.blocks, file) : signers.length;
    let closed = false;
    return {
      kind: parsed.kind,
      file,
      count,
      directory,
      get closed() {
        return closed;
      },
      async close() {
        closed = true;
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

function signerLine({ principals, options, keyType, key }: AllowedSigner): string {
  return [principals, ...(options !== undefined ? [options] : []), keyType, key].join(' ') + '\n';
}

/** Imports every block, each on its own so that a failure names its line; the number of primary keys. */
async function importOpenPgpKeys(home: string, blocks: readonly OpenPgpBlock[], file: string): Promise<number> {
  const fingerprints = new Set<string>();
  for (const block of blocks) {
    const { stdout, stderr } = await gpg(home, ['--status-fd', '1', '--import'], block.text, file);
    const imported = [...stdout.matchAll(/^\[GNUPG:\] IMPORT_OK \d+ ([0-9A-F]+)$/gm)].map((found) => found[1]!);
    if (imported.length === 0) {
      throw new SigningKeysError(
        `${file} line ${block.line}: the OpenPGP public key block holds no key gpg can import (${gpgSays(stderr)})`,
      );
    }
    for (const fingerprint of imported) fingerprints.add(fingerprint);
  }
  const ownertrust = [...fingerprints].map((fingerprint) => `${fingerprint}:6:\n`).join('');
  await gpg(home, ['--import-ownertrust'], ownertrust, file, { check: true });
  // Settled now, so that checking a signature never has to rewrite the trust database.
  await gpg(home, ['--check-trustdb'], '', file, { check: true });
  return fingerprints.size;
}

/** What gpg said that matters: its first line but the noise around a broken block. */
function gpgSays(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.replace(/^gpg: /, '').trim())
    .filter((line) => line !== '' && !/radix64 character .* skipped|no gpg-agent running/.test(line));
  return truncate(printable(lines[0] ?? 'no reason given'), 200);
}

const GPG_TIMEOUT_MS = 30_000;

function gpg(
  home: string,
  args: readonly string[],
  input: string,
  file: string,
  { check = false } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'gpg',
      ['--batch', '--no-tty', '--quiet', ...args],
      { env: { PATH: process.env.PATH, GNUPGHOME: home, LC_ALL: 'C' }, timeout: GPG_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          const why = error.killed ? `stopped after ${GPG_TIMEOUT_MS / 1000}s` : error.message;
          return reject(new SigningKeysError(`${file}: holds OpenPGP keys, and gpg could not be run (${why})`));
        }
        if (error && check) return reject(new Error(`gpg ${args[0]} failed: ${gpgSays(stderr)}`));
        resolve({ stdout, stderr });
      },
    );
    // A gpg that could not start closes its input at once; the callback above says why.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

type SignatureFormat = 'openpgp' | 'ssh' | 'x509' | 'unknown';
const FORMAT_OF_KIND: Readonly<Record<KeyKind, SignatureFormat>> = { ssh: 'ssh', gpg: 'openpgp' };
const FORMAT_NAMES: Readonly<Record<SignatureFormat, string>> = {
  openpgp: 'an OpenPGP (GPG) signature',
  ssh: 'an SSH signature',
  x509: 'an X.509 signature',
  unknown: 'a signature of no kind git knows',
};
const KIND_NAMES: Readonly<Record<KeyKind, string>> = { ssh: 'SSH keys', gpg: 'OpenPGP keys' };

/**
 * The kind of the commit's signature, read as git reads it (gpg-interface.c): the `gpgsig` header
 * of a SHA-1 repository, `gpgsig-sha256` of a SHA-256 one, by its first line; undefined when unsigned.
 */
export function signatureFormat(rawCommit: string): SignatureFormat | undefined {
  const headers = rawCommit.split('\n\n', 1)[0]!.split('\n');
  const tree = /^tree ([0-9a-f]+)$/.exec(headers[0] ?? '')?.[1] ?? '';
  const header = tree.length === 64 ? 'gpgsig-sha256 ' : 'gpgsig ';
  const first = headers.find((line) => line.startsWith(header))?.slice(header.length);
  if (first === undefined) return undefined;
  if (first.startsWith('-----BEGIN PGP SIGNATURE-----') || first.startsWith('-----BEGIN PGP MESSAGE-----')) {
    return 'openpgp';
  }
  if (first.startsWith('-----BEGIN SSH SIGNATURE-----')) return 'ssh';
  if (first.startsWith('-----BEGIN SIGNED MESSAGE-----')) return 'x509';
  return 'unknown';
}

/**
 * What git says of a signature: `%G?`, the signing key (an OpenPGP key id, an SSH SHA256:…
 * fingerprint), its primary key's fingerprint (OpenPGP) and the signer (user id, principal).
 */
export interface SignatureCheck {
  readonly status: string;
  readonly key: string;
  readonly primaryKey: string;
  readonly signer: string;
}
const CHECK_FORMAT = '%G?%x00%GK%x00%GP%x00%GS';

/**
 * Whether `commit` in the repository at `gitDir` is signed by one of `keys`, and if not, why.
 * Only a signature of the keys' kind is handed to git: an OpenPGP signature is never checked when
 * SSH keys are allowed, nor the other way round. Rejects when git fails (no such commit).
 */
export async function verifyCommit(gitDir: string, commit: string, keys: SigningKeys): Promise<Verification> {
  if (keys.closed) throw new Error(`the signing keys from ${keys.file} are closed`);
  const run = {
    env: { GIT_DIR: gitDir, GNUPGHOME: keys.directory },
    config: { 'gpg.ssh.allowedSignersFile': join(keys.directory, ALLOWED_SIGNERS) },
  };
  const name = shortName(commit);
  const format = signatureFormat(await git(['cat-file', 'commit', '--end-of-options', commit], run));
  if (format === undefined) return { verified: false, reason: `commit ${name} is not signed` };
  if (format !== FORMAT_OF_KIND[keys.kind]) {
    return {
      verified: false,
      reason: `commit ${name} has ${FORMAT_NAMES[format]}, and the keys allowed by ${keys.file} are ${KIND_NAMES[keys.kind]}`,
    };
  }
  const [status = '', key = '', primaryKey = '', signer = ''] = (
    await git(['log', '-1', `--format=${CHECK_FORMAT}`, '--end-of-options', commit], run)
  )
    .replace(/\n$/, '')
    .split('\0');
  return judge(name, keys, { status, key, primaryKey, signer });
}

/** A full commit id as git shows it short; any other name as given. */
function shortName(commit: string): string {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(commit) ? commit.slice(0, 7) : printable(commit);
}

/** The verification git's answer makes: only G passes (a good signature by an allowed, valid key). */
export function judge(name: string, keys: Pick<SigningKeys, 'kind' | 'file'>, check: SignatureCheck): Verification {
  const id = shown(check.primaryKey || check.key);
  // SSH keys are named by their SHA256:… fingerprint, OpenPGP keys by a hexadecimal id.
  const key = id === '' || keys.kind === 'ssh' ? id : `key ${id}`;
  const byKey = key === '' ? '' : ` (${key})`;
  const failed = (why: string): Verification => ({ verified: false, reason: `commit ${name} ${why}` });
  switch (check.status) {
    case 'G': {
      // A bare public key is allowed for "*", which names nobody.
      const signer = check.signer === '*' ? '' : shown(check.signer);
      return { verified: true, signer: signer === '' ? key : key === '' ? signer : `${signer} (${key})` };
    }
    case 'B':
      return failed(`has a bad signature${byKey}: the commit was changed after it was signed`);
    case 'X':
      return failed(`has an expired signature${byKey}`);
    case 'Y':
      return failed(`is signed by an expired key${byKey}`);
    case 'R':
      return failed(`is signed by a revoked key${byKey}`);
    case 'U':
      // SSH: a good signature by a key on no allowed signer line. GPG: every key in the private
      // keyring is trusted, so this would be one gpg holds invalid for some other reason.
      return keys.kind === 'ssh'
        ? failed(`is signed by a key not allowed by ${keys.file}${byKey}`)
        : failed(`is signed by a key gpg does not hold valid${byKey}`);
    case 'E':
      // GPG: most often a key not in the keyring (git gives its id); the keyring is the file.
      return keys.kind === 'gpg' && key !== ''
        ? failed(`is signed by a key not allowed by ${keys.file}${byKey}`)
        : failed(`has a signature that could not be checked${byKey}`);
    default:
      return failed('has a signature git could not read');
  }
}

/** Text git passed on from a signature or a key file, made safe to show. */
function shown(text: string): string {
  return truncate(printable(text), 200);
}

/** A check for the git source: only commits signed by one of the keys are applied. */
export function requireSignature(keys: () => SigningKeys): CommitCheck {
  return async (gitDir, commit) => {
    const verification = await verifyCommit(gitDir, commit, keys());
    return verification.verified ? undefined : verification.reason;
  };
}
