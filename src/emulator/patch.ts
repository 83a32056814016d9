// PATCH /v2/cloudimages/{id}: the documented updatable attributes, each with the rule its value
// follows on create, applied as a JSON-Patch-like array (research/ims-api.md §8).
import { ImsFailure } from './errors.js';
import { checkDescription, checkEnterpriseProject, checkFirmware, checkName, parseJson } from './validate.js';

/** Image attributes as stored and listed (tags apart). */
export type Attributes = Record<string, string | number | boolean | null>;

type Rule = (value: string | number, attributes: Attributes) => string | number;

function asText(value: string | number): string {
  if (typeof value !== 'string') throw new ImsFailure('IMG.0001', 'the value must be a string');
  return value;
}

const text =
  (check?: (value: string) => unknown): Rule =>
  (value) => {
    const checked = asText(value);
    check?.(checked);
    return checked;
  };

const megabytes: Rule = (value) => {
  const mb = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(mb) || mb < 0) throw new ImsFailure('IMG.0055', 'memory is a whole number of MB');
  return mb;
};

/** What PATCH may change (the documented list), each with its rule; the value as stored. */
const PATCHABLE: Readonly<Record<string, Rule>> = {
  name: text(checkName),
  __description: text(checkDescription),
  min_ram: megabytes,
  // max_ram is a string on read (golangsdk's MaxRam), min_ram a number.
  max_ram: (value, attributes) => String(megabytes(value, attributes)),
  hw_firmware_type: (value, attributes) => checkFirmware(asText(value), String(attributes.architecture ?? 'x86')),
  enterprise_project_id: text(checkEnterpriseProject),
  ...Object.fromEntries(
    [
      '__support_kvm',
      '__support_xen',
      '__support_largememory',
      '__support_diskintensive',
      '__support_highperformance',
      '__support_xen_gpu_type',
      '__support_kvm_gpu_type',
      '__support_xen_hana',
      '__support_kvm_infiniband',
      '__support_fc_inject',
      '__support_amd',
      '__support_kvm_hi1822_hisriov',
      '__support_kvm_hi1822_hivirtionet',
      '__is_config_init',
      'hw_vif_multiqueue_enabled',
    ].map((flag) => [flag, text()]),
  ),
};

/** Every image has these; they can be replaced but not removed. */
const REQUIRED = new Set(['name', 'min_ram', 'enterprise_project_id']);

export interface PatchRules {
  /**
   * `add` of an attribute the image has is IMG.0035 (realism patchAddConflict); otherwise, as in
   * JSON Patch, it replaces the value. The documentation does not say which IMS does.
   */
  readonly addConflict?: boolean;
}

/**
 * The attributes after the PATCH body's operations, applied in order and all or none. `replace`
 * or `remove` of an attribute the image lacks is IMG.0035, as IMS answers it (Terraform retries
 * with `add`); attributes outside the documented list are refused with IMG.0001 (the emulator does
 * not keep custom extension attributes). An empty description is no description.
 */
export function applyPatch(attributes: Attributes, body: Buffer, rules: PatchRules = {}): Attributes {
  const operations = parseJson(body);
  if (!Array.isArray(operations)) {
    throw new ImsFailure('IMG.0001', 'the body must be a JSON array of {op, path, value} operations');
  }
  const result = { ...attributes };
  for (const operation of operations as unknown[]) {
    const { op, path, value } = (typeof operation === 'object' && operation !== null ? operation : {}) as {
      op?: unknown;
      path?: unknown;
      value?: unknown;
    };
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ImsFailure('IMG.0001', 'op must be add, replace or remove');
    }
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new ImsFailure('IMG.0001', 'path must be "/" and an attribute name');
    }
    const attribute = path.slice(1);
    const rule = PATCHABLE[attribute];
    if (rule === undefined) throw new ImsFailure('IMG.0001', `${attribute} cannot be updated`);
    const present = Object.hasOwn(result, attribute);
    if (op !== 'add' && !present) {
      throw new ImsFailure('IMG.0035', `the image has no ${attribute} to ${op}; use op "add"`);
    }
    if (op === 'add' && present && rules.addConflict === true) {
      throw new ImsFailure('IMG.0035', `the image has ${attribute} already; use op "replace"`);
    }
    if (op === 'remove') {
      if (REQUIRED.has(attribute)) throw new ImsFailure('IMG.0001', `${attribute} cannot be removed`);
      delete result[attribute];
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new ImsFailure('IMG.0001', `${op} needs a string or number value`);
    }
    const stored = rule(value, result);
    if (attribute === '__description' && stored === '') delete result[attribute];
    else result[attribute] = stored;
  }
  return result;
}
