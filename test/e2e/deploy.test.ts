// The deployment files of docs/deploy run the imsync they ship with: the systemd unit, the container
// build and the Kubernetes manifests name only commands, flags, environment variables and files
// that exist, set the hardening they promise, and the Deployment's arguments and environment run a
// daemon that leads, gets ready, and answers by the Service's names. Nothing here has a cluster, a
// container engine or systemd running: the files are parsed, and what can run here runs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, posix, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { unknownFlags } from '../support/cli-help.js';
import { makeRepository } from '../support/git-repo.js';
import { getWithHost } from '../support/http-host.js';
import { repoRoot } from '../support/run-cli.js';
import { cleanup, manifestText, startEmulator, Workspace } from '../support/watch-harness.js';

const deployDir = join(repoRoot, 'docs', 'deploy');
const read = (path: string) => readFileSync(join(deployDir, path), 'utf8');

afterEach(cleanup);

/**
 * The environment variables imsync reads: every `env.NAME` of its sources, and those node-postgres
 * reads for what a postgres:// URL leaves out (README, "State on PostgreSQL").
 */
const imsyncVariables: ReadonlySet<string> = new Set([
  ...readdirSync(join(repoRoot, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) => [...readFileSync(join(repoRoot, 'src', file), 'utf8').matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)])
    .map((match) => match[1]!),
  ...['PGUSER', 'PGPASSWORD', 'PGHOST', 'PGPORT', 'PGDATABASE'],
]);

/** The value after `flag` in `args` (`--flag value`), every one when the flag repeats. */
function valuesOf(args: readonly string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag && i + 1 < args.length ? [args[i + 1]!] : []));
}

/** `NAME=value` words (space-separated, as systemd's Environment= and a Containerfile's ENV take them). */
function assignmentsOf(lines: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    lines
      .flatMap((line) => line.split(/\s+/))
      .map((word) => {
        const eq = word.indexOf('=');
        return [word.slice(0, eq), word.slice(eq + 1)];
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// systemd

/** A unit file's assignments in order, as systemd reads them: `#` and `;` comments, `\` continuations. */
function parseUnit(text: string): { section: string; key: string; value: string }[] {
  const entries: { section: string; key: string; value: string }[] = [];
  let section = '';
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines.map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not an assignment in [${section}]: ${line}`);
    entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return entries;
}

describe('docs/deploy/systemd/imsync-watch.service', () => {
  const unitFile = join(deployDir, 'systemd', 'imsync-watch.service');
  const unit = parseUnit(read('systemd/imsync-watch.service'));
  const service = unit.filter((entry) => entry.section === 'Service');
  const valuesOfKey = (key: string) => service.filter((entry) => entry.key === key).map((entry) => entry.value);
  const only = (key: string) => {
    const values = valuesOfKey(key);
    expect(values, key).toHaveLength(1);
    return values[0]!;
  };

  it('runs imsync watch with flags the CLI has, on 127.0.0.1, restarted on failure, stopped gracefully', () => {
    const command = only('ExecStart');
    // Words as systemd splits them, with no quoting to get wrong.
    expect(command).not.toMatch(/["'\\]/);
    const [binary, subcommand, ...args] = command.split(/\s+/);
    expect(binary).toBe('/usr/local/bin/imsync');
    expect(subcommand).toBe('watch');
    expect(unknownFlags('watch', args)).toEqual([]);
    expect(valuesOf(args, '--listen')).toEqual(['127.0.0.1:9464']);
    expect(only('Type')).toBe('exec');
    // A leader that loses its PostgreSQL lock exits 1; a clean stop exits 0 and stays stopped.
    expect(only('Restart')).toBe('on-failure');
    expect(only('TimeoutStopSec')).toMatch(/^\d+s$/);
    expect(only('KillMode')).toBe('mixed');
    expect(only('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(unit).toContainEqual({ section: 'Install', key: 'WantedBy', value: 'multi-user.target' });
  });

  it.each([
    ['DynamicUser', 'yes'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelLogs', 'yes'],
    ['ProtectControlGroups', 'yes'],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ['RestrictNamespaces', 'yes'],
    ['LockPersonality', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['UMask', '0077'],
    ['StateDirectory', 'imsync'],
    ['StateDirectoryMode', '0700'],
    ['SystemCallErrorNumber', 'EPERM'],
  ])('sets %s=%s', (key, value) => {
    expect(only(key)).toBe(value);
  });

  it('filters system calls to those of a service, and leaves out MemoryDenyWriteExecute, which V8 cannot run under', () => {
    expect(valuesOfKey('SystemCallFilter')).toContain('@system-service');
    expect(unit.map((entry) => entry.key)).not.toContain('MemoryDenyWriteExecute');
  });

  it('sets only variables imsync reads, its state and git cache in the state directory, its credentials from a file', () => {
    const environment = assignmentsOf(valuesOfKey('Environment'));
    for (const name of Object.keys(environment)) expect(imsyncVariables, name).toContain(name);
    expect(environment).toEqual({
      HOME: '%S/imsync',
      IMSYNC_STATE: '%S/imsync/imsync.state.json',
      IMSYNC_GIT_CACHE: '%S/imsync/git',
    });
    expect(only('WorkingDirectory')).toBe('%S/imsync');
    // imsync reads credentials from the environment only: from this file, read by systemd as root.
    expect(only('EnvironmentFile')).toBe('/etc/imsync/imsync.env');
  });

  it.skipIf(!hasCommand('systemd-analyze'))(
    'systemd-analyze verify finds nothing wrong but the binary not installed here, and security rates it OK',
    () => {
      const verify = spawnSync('systemd-analyze', ['verify', '--man=no', unitFile], { encoding: 'utf8' });
      const complaints = `${verify.stdout}${verify.stderr}`
        .split('\n')
        .filter((line) => line !== '')
        .filter(
          (line) =>
            existsSync('/usr/local/bin/imsync') ||
            line !== 'imsync-watch.service: Command /usr/local/bin/imsync is not executable: No such file or directory',
        );
      expect(complaints).toEqual([]);

      const security = spawnSync('systemd-analyze', ['security', '--offline=true', unitFile], { encoding: 'utf8' });
      const overall = /Overall exposure level for imsync-watch\.service: (\d+\.\d+) (\w+)/.exec(security.stdout);
      expect(overall, security.stdout + security.stderr).not.toBeNull();
      console.info(`systemd-analyze security imsync-watch.service: ${overall![1]} ${overall![2]}`);
      expect(Number(overall![1])).toBeLessThanOrEqual(2);
    },
  );
});

describe('docs/deploy/imsync.env', () => {
  it('names only variables imsync reads, the credentials among them, with placeholder values', () => {
    const assignments = read('imsync.env')
      .split('\n')
      .flatMap((line) => {
        const found = /^#?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
        return found ? [{ name: found[1]!, value: found[2]! }] : [];
      });
    for (const { name } of assignments) expect(imsyncVariables, name).toContain(name);
    expect(assignments.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['HW_ACCESS_KEY', 'HW_SECRET_KEY', 'HW_PROJECT_ID', 'HW_REGION_NAME']),
    );
    for (const { name, value } of assignments.filter(({ name }) => /KEY|TOKEN|PASSWORD/.test(name))) {
      expect(value, name).toMatch(/^REPLACE_WITH_[A-Z_]+$/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Containerfile

interface Instruction {
  readonly instruction: string;
  readonly args: string;
}

/** The instructions of a Containerfile, `\` continuations joined and comment lines left out. */
function parseContainerfile(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [instruction, ...rest] = line.split(/\s+/);
      return { instruction: instruction!.toUpperCase(), args: rest.join(' ') };
    });
}

/** The build stages: the instructions from each FROM to the next. */
function stagesOf(instructions: readonly Instruction[]): Instruction[][] {
  const stages: Instruction[][] = [];
  for (const instruction of instructions) {
    if (instruction.instruction === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

describe('docs/deploy/Containerfile', () => {
  const instructions = parseContainerfile(read('Containerfile'));
  const [build, run] = stagesOf(instructions);
  const all = (stage: readonly Instruction[] | undefined, name: string) =>
    (stage ?? []).filter((instruction) => instruction.instruction === name).map((instruction) => instruction.args);
  const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    files: string[];
  };

  it('builds in two stages, both from Node 20 pinned by its version tag', () => {
    expect(stagesOf(instructions)).toHaveLength(2);
    const [arg] = instructions.filter((instruction) => instruction.instruction === 'ARG');
    expect(arg?.args).toMatch(/^NODE_IMAGE=docker\.io\/library\/node:20\.\d+\.\d+-bookworm-slim$/);
    expect(all(build, 'FROM')).toEqual(['${NODE_IMAGE} AS build']);
    expect(all(run, 'FROM')).toEqual(['${NODE_IMAGE}']);
  });

  it('copies files of the checkout that exist, and exactly those the ignore file lets into the context', () => {
    const sources = all(build, 'COPY').flatMap((args) => args.split(/\s+/).slice(0, -1));
    for (const source of sources) expect(existsSync(join(repoRoot, source)), source).toBe(true);
    const allowed = read('Containerfile.dockerignore')
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1).replace(/\/$/, ''));
    expect([...allowed].sort()).toEqual([...sources].sort());
    expect(read('Containerfile.dockerignore')).toMatch(/^\*$/m);
  });

  it('installs the package as npm packs it, with its production dependencies from the lock file; imsync is its bin', () => {
    const commands = all(build, 'RUN').join(' && ');
    expect(commands).toContain('npm ci --no-audit --no-fund');
    expect(commands).toContain('npm pack --ignore-scripts');
    expect(commands).toContain('npm ci --omit=dev --ignore-scripts');
    expect(all(run, 'COPY')).toEqual(['--from=build /opt/imsync /opt/imsync']);
    expect(all(run, 'RUN')).toContain(`ln -s /opt/imsync/${packageJson.bin.imsync} /usr/local/bin/imsync`);
    expect(packageJson.files).toContain(packageJson.bin.imsync!.split('/')[0]);
  });

  it('runs imsync watch as uid 10001, with git and ssh, writing only under the volume', () => {
    const setup = all(run, 'RUN').join(' && ');
    expect(setup).toMatch(/apt-get install -y --no-install-recommends [^&]*\bgit\b/);
    expect(setup).toMatch(/apt-get install -y --no-install-recommends [^&]*\bopenssh-client\b/);
    expect(setup).toContain('useradd --system --uid 10001 --gid 10001');
    expect(all(run, 'USER')).toEqual(['10001:10001']);

    const [volume] = JSON.parse(all(run, 'VOLUME')[0]!) as string[];
    const environment = assignmentsOf(all(run, 'ENV'));
    for (const name of Object.keys(environment)) expect(imsyncVariables, name).toContain(name);
    // A read-only root: HOME, the state file and the git cache are all in the volume.
    expect(volume).toBe('/var/lib/imsync');
    for (const path of [environment.HOME!, dirname(environment.IMSYNC_STATE!), environment.IMSYNC_GIT_CACHE!]) {
      expect(posix.relative(volume!, path)).not.toMatch(/^\.\./);
    }
    expect(all(run, 'WORKDIR')).toEqual([volume]);

    expect(JSON.parse(all(run, 'ENTRYPOINT')[0]!)).toEqual(['imsync']);
    const [command, ...args] = JSON.parse(all(run, 'CMD')[0]!) as string[];
    expect(command).toBe('watch');
    expect(unknownFlags('watch', args)).toEqual([]);
    expect(all(run, 'EXPOSE')).toEqual([valuesOf(args, '--listen')[0]!.split(':')[1]]);
  });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes

type Labels = Readonly<Record<string, string>>;

/** The fields of the manifests these tests read (the Kubernetes API's names). */
interface Resource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Labels };
}
interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef: { readonly name: string; readonly key: string } };
}
interface Probe {
  readonly httpGet: { readonly path: string; readonly port: string };
}
interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly ports?: readonly unknown[];
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly resources: { readonly requests?: Labels; readonly limits?: Labels };
  readonly securityContext: { readonly runAsUser?: number; readonly [field: string]: unknown };
  readonly volumeMounts: readonly VolumeMount[];
}
interface Volume {
  readonly name: string;
  readonly emptyDir?: { readonly medium?: string };
  readonly secret?: {
    readonly secretName: string;
    readonly defaultMode?: number;
    readonly items?: readonly { key: string; path: string }[];
  };
  readonly persistentVolumeClaim?: { readonly claimName: string };
}
interface Deployment extends Resource {
  readonly spec: {
    readonly replicas: number;
    readonly selector: { readonly matchLabels: Labels };
    readonly strategy?: unknown;
    readonly template: {
      readonly metadata: { readonly labels: Labels };
      readonly spec: {
        readonly automountServiceAccountToken?: boolean;
        readonly securityContext: {
          readonly runAsUser: number;
          readonly fsGroup: number;
          readonly [field: string]: unknown;
        };
        readonly initContainers?: readonly Container[];
        readonly containers: readonly Container[];
        readonly volumes: readonly Volume[];
      };
    };
  };
}
interface Service extends Resource {
  readonly spec: { readonly selector: Labels; readonly ports: readonly { name: string; port: number }[] };
}
interface ServiceMonitor extends Resource {
  readonly spec: { readonly selector: { readonly matchLabels: Labels }; readonly endpoints: readonly unknown[] };
}
interface Selected extends Resource {
  readonly spec: { readonly selector: { readonly matchLabels: Labels } };
}
interface Secret extends Resource {
  readonly stringData: Readonly<Record<string, string>>;
}

/** Every document of every manifest under docs/deploy/kubernetes, read as kubectl reads YAML (1.1: 0440 is octal). */
const manifests: { file: string; document: Resource }[] = readdirSync(join(deployDir, 'kubernetes'), {
  recursive: true,
  encoding: 'utf8',
})
  .filter((file) => file.endsWith('.yaml'))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(read(join('kubernetes', file)), { version: '1.1' }).map((parsed) => {
      if (parsed.errors.length > 0) throw new Error(`${file}: ${parsed.errors.map(String).join('; ')}`);
      return { file, document: parsed.toJS() as Resource };
    }),
  );
function ofKind<T extends Resource>(kind: string, file?: string): T[] {
  return manifests
    .filter((m) => m.document.kind === kind && (file === undefined || m.file === file))
    .map((m) => m.document as T);
}
const service = ofKind<Service>('Service')[0]!;
const secrets = new Map(ofKind<Secret>('Secret').map((secret) => [secret.metadata.name, secret]));
const credentials = secrets.get('imsync-credentials')!.stringData;

describe('docs/deploy/kubernetes', () => {
  it('holds each kind it documents at its API version, labelled, in the namespace imsync', () => {
    const kinds = manifests.map(({ file, document }) => `${file}: ${document.apiVersion} ${document.kind}`);
    expect(kinds).toEqual([
      '00-namespace.yaml: v1 Namespace',
      '10-secret.yaml: v1 Secret',
      '10-secret.yaml: v1 Secret',
      '20-deployment.yaml: apps/v1 Deployment',
      '20-deployment.yaml: policy/v1 PodDisruptionBudget',
      '30-service.yaml: v1 Service',
      '40-servicemonitor.yaml: monitoring.coreos.com/v1 ServiceMonitor',
      'file-state/deployment.yaml: v1 PersistentVolumeClaim',
      'file-state/deployment.yaml: apps/v1 Deployment',
    ]);
    for (const { file, document } of manifests) {
      expect(document.metadata.labels?.['app.kubernetes.io/name'], file).toBe('imsync');
      if (document.kind !== 'Namespace') expect(document.metadata.namespace, file).toBe('imsync');
    }
    expect(ofKind('Namespace')[0]!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('serves the port named http on the Service, whose /metrics the ServiceMonitor scrapes', () => {
    const [monitor] = ofKind<ServiceMonitor>('ServiceMonitor');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 9464, targetPort: 'http', protocol: 'TCP' }]);
    expect(monitor!.spec.selector.matchLabels).toEqual(service.metadata.labels);
    expect(monitor!.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
    const [budget] = ofKind<Selected>('PodDisruptionBudget');
    expect(budget!.spec.selector.matchLabels).toEqual(service.spec.selector);
  });

  describe.each([
    ['20-deployment.yaml', { replicas: 2, standby: true, state: 'IMSYNC_STATE from the Secret' }],
    ['file-state/deployment.yaml', { replicas: 1, standby: false, state: 'a file on the claim' }],
  ])('%s', (file, expected) => {
    const deployment = ofKind<Deployment>('Deployment', file)[0]!;
    const pod = deployment.spec.template.spec;
    const [container, ...others] = pod.containers;
    const args = container!.args ?? [];

    it(`runs imsync watch${expected.standby ? ' --standby' : ''} with flags the CLI has, on every address, answering the Service's names`, () => {
      expect(others).toEqual([]);
      expect(deployment.spec.replicas).toBe(expected.replicas);
      expect(args[0]).toBe('watch');
      expect(unknownFlags('watch', args.slice(1))).toEqual([]);
      expect(args.includes('--standby')).toBe(expected.standby);
      // Two writers cannot share a file state: the old pod stops before the new one starts.
      if (!expected.standby) expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
      expect(valuesOf(args, '--listen')).toEqual(['0.0.0.0:9464']);
      const { name, namespace } = service.metadata;
      expect(valuesOf(args, '--allowed-host')).toEqual([
        name,
        `${name}.${namespace}.svc`,
        `${name}.${namespace}.svc.cluster.local`,
      ]);
      expect(deployment.spec.selector.matchLabels).toEqual(service.spec.selector);
      expect(deployment.spec.template.metadata.labels).toEqual(service.spec.selector);
    });

    it('probes /healthz for liveness and /readyz for readiness on the port named http', () => {
      expect(container!.ports).toEqual([{ name: 'http', containerPort: 9464, protocol: 'TCP' }]);
      expect(container!.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container!.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container!.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    });

    it('runs unprivileged, as the image user, on a read-only root with a volume wherever imsync writes', () => {
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        fsGroup: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const each of [...(pod.initContainers ?? []), container!]) {
        expect(each.securityContext, each.name).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(each.resources.requests, each.name).toHaveProperty('memory');
        expect(each.resources.limits, each.name).toHaveProperty('memory');
      }
      // HOME, the state and the git cache (the image's environment), and the keys' copies (/tmp).
      const mounts = container!.volumeMounts.map((mount) => mount.mountPath);
      expect(mounts).toEqual(expect.arrayContaining(['/var/lib/imsync', '/tmp']));
      const dataMount = container!.volumeMounts.find((mount) => mount.mountPath === '/var/lib/imsync')!;
      const data = pod.volumes.find((volume) => volume.name === dataMount.name)!;
      if (expected.standby) expect(data).toEqual({ name: 'data', emptyDir: {} });
      else expect(data.persistentVolumeClaim?.claimName).toBe(ofKind('PersistentVolumeClaim', file)[0]!.metadata.name);
    });

    it(`sets only variables imsync reads, its secrets from keys the Secret holds (state: ${expected.state})`, () => {
      const env = container!.env ?? [];
      for (const { name } of env) expect(imsyncVariables, name).toContain(name);
      const fromSecret = env.filter((variable) => variable.valueFrom !== undefined);
      for (const { name, valueFrom } of fromSecret) {
        expect(valueFrom!.secretKeyRef.name, name).toBe('imsync-credentials');
        expect(valueFrom!.secretKeyRef.key, name).toBe(name);
      }
      const keys = Object.keys(credentials);
      const used = fromSecret.map(({ name }) => name);
      if (expected.standby) expect(used.sort()).toEqual([...keys].sort());
      else expect(keys).toEqual(expect.arrayContaining(used));
      expect(used.includes('IMSYNC_STATE')).toBe(expected.standby);
      expect(used).toEqual(expect.arrayContaining(['HW_ACCESS_KEY', 'HW_SECRET_KEY', 'HW_PROJECT_ID']));
      for (const key of keys.filter((key) => /KEY|TOKEN|PASSWORD/.test(key))) {
        expect(credentials[key], key).toMatch(/^REPLACE_WITH_[A-Z_]+$/);
      }
    });
  });

  describe('20-deployment.yaml', () => {
    const deployment = ofKind<Deployment>('Deployment', '20-deployment.yaml')[0]!;
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0]!;
    const args = container.args ?? [];
    const volume = (name: string) => pod.volumes.find((v) => v.name === name)!;
    const mountOf = (each: Container, path: string) =>
      each.volumeMounts.find((mount) => path.startsWith(`${mount.mountPath}/`))!;

    it('hands imsync its webhook secret as a file its owner alone reads: copied 0400 from a volume of the group only', () => {
      const [init] = pod.initContainers ?? [];
      const [secretFile] = valuesOf(args, '--webhook-secret-file');
      const [install, flag, mode, source, target] = init!.command ?? [];
      expect([install, flag, mode, target]).toEqual(['install', '-m', '0400', secretFile]);
      // The copy is in a memory volume, written by the init container and only read by imsync.
      const copied = mountOf(container, secretFile!);
      expect(copied.readOnly).toBe(true);
      expect(mountOf(init!, secretFile!).name).toBe(copied.name);
      expect(volume(copied.name).emptyDir?.medium).toBe('Memory');
      // The source: the Secret's key, readable by the pod's group (fsGroup) alone, as uid 10001 is.
      const from = mountOf(init!, source!);
      const secret = volume(from.name).secret!;
      expect(from.readOnly).toBe(true);
      expect(secret.defaultMode).toBe(0o440);
      expect(pod.securityContext.fsGroup).toBe(init!.securityContext.runAsUser ?? pod.securityContext.runAsUser);
      expect(secret.items).toEqual([{ key: 'webhook-secret', path: relative(from.mountPath, source!) }]);
      expect(Object.keys(secrets.get(secret.secretName)!.stringData)).toEqual(['webhook-secret']);
      expect(init!.image).toBe(container.image);
    });

    it("runs as its arguments and environment say: leads, gets ready, and answers by the Service's names", async () => {
      const workspace = await Workspace.create('imsync-deploy-');
      const [gitPath] = valuesOf(args, '--git-path');
      const repo = await makeRepository(workspace.dir, { files: { [`${gitPath}/a.yaml`]: manifestText('deploy-a') } });
      const secretFile = join(workspace.dir, 'webhook-secret');
      await writeFile(secretFile, 'deploy-e2e-webhook-secret\n', { mode: 0o400 });
      // What only the cluster has is replaced: the repository, the address (every address of the
      // pod; 127.0.0.1 here), the copied secret's path; and a state file stands in for PostgreSQL.
      const replaced: Record<string, string> = {
        '--git': repo.fileUrl,
        '--listen': '127.0.0.1:0',
        '--webhook-secret-file': secretFile,
      };
      const here = args.slice(1).map((arg, i, all) => replaced[all[i - 1]!] ?? arg);
      const values = (container.env ?? []).filter((variable) => variable.value !== undefined);
      const env = Object.fromEntries(values.map((variable) => [variable.name, variable.value]));
      const emulator = await startEmulator();
      const daemon = workspace.watch(emulator, [...here, '--git-cache', join(workspace.dir, 'git')], {
        paths: [],
        env,
      });

      const status = await daemon.waitForCommit(repo.initial, ['deploy-a']);
      expect(status.role).toBe('leader');
      expect((await daemon.get('/healthz')).status).toBe(200);
      expect((await daemon.get('/readyz')).status).toBe(200);
      const port = Number(new URL(await daemon.url()).port);
      const servicePort = service.spec.ports[0]!.port;
      for (const name of valuesOf(args, '--allowed-host')) {
        expect(await getWithHost(port, '/status', `${name}:${servicePort}`), name).toBe(200);
      }
      expect(await getWithHost(port, '/status', `rebound.example:${servicePort}`)).toBe(403);

      // SIGTERM, as the kubelet stops a pod: the state saved, exit 0.
      daemon.kill('SIGTERM');
      expect((await daemon.exited).code).toBe(0);
    });
  });
});

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
