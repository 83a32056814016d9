// Reading a plan saved by `plan --out` back: only the desired manifests and the basis matter, since
// applying it re-plans against the very state it was made against (and is refused otherwise).
import { readFile } from 'node:fs/promises';
import { validateAgainst } from '../manifest/schema.js';
import { describeSchemaErrors } from '../manifest/schema-errors.js';
import { API_VERSION, KIND, type ImageManifest, type Manifest } from '../manifest/types.js';
import { UsageError } from './config.js';
import { PLAN_FORMAT_VERSION } from './render-plan.js';

export interface SavedPlan {
  readonly basis: { readonly lineage: string; readonly serial: number };
  readonly manifests: readonly Manifest[];
}

interface SavedEntry {
  key?: unknown;
  action?: unknown;
  region?: unknown;
  source?: unknown;
  spec?: unknown;
}

export async function readPlanFile(path: string): Promise<SavedPlan> {
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw new UsageError(`--plan ${path}: cannot be read (${error.message})`);
  });
  const bad = (why: string) => new UsageError(`--plan ${path}: ${why}; make a new one with \`imsync plan --out\``);
  let document: { format_version?: unknown; basis?: { lineage?: unknown; serial?: unknown }; entries?: unknown };
  try {
    document = JSON.parse(text) as typeof document;
  } catch {
    throw bad('not a plan file (not JSON)');
  }
  if (document.format_version !== PLAN_FORMAT_VERSION) {
    throw bad(`plan format ${JSON.stringify(document.format_version) ?? 'missing'}, expected "${PLAN_FORMAT_VERSION}"`);
  }
  const { lineage, serial } = document.basis ?? {};
  if (typeof lineage !== 'string' || typeof serial !== 'number' || !Array.isArray(document.entries)) {
    throw bad('no basis or entries');
  }
  const manifests = (document.entries as SavedEntry[])
    .filter((entry) => entry.action !== 'orphan')
    .map((entry, index) => toManifest(entry, index, bad));
  return { basis: { lineage, serial }, manifests };
}

function toManifest(entry: SavedEntry, index: number, bad: (why: string) => UsageError): Manifest {
  const region = typeof entry.region === 'string' ? entry.region : undefined;
  const document = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: entry.key, ...(region === undefined ? {} : { region }) },
    spec: entry.spec,
  };
  const [problem] = describeSchemaErrors(validateAgainst('image', document));
  if (problem) throw bad(`entry ${index}: ${problem.message}`);
  const source = typeof entry.source === 'string' ? entry.source : 'plan';
  const [file = 'plan', line = '0', column = '0'] = source.split(/:(?=\d+:\d+$)|:(?=\d+$)/);
  // Valid by the manifest schema, checked just above.
  return { ...(document as ImageManifest), source: { file, line: Number(line), column: Number(column) } };
}
