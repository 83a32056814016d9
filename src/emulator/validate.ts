// Request validation with the IMG codes IMS answers (research/ims-api.md §2, §4, §5, §8, §10,
// §13.2). Each function throws an ImsFailure for the first problem it meets.
import { ImsFailure } from './errors.js';
import { findOsVersion, type OsVersion } from './os-versions.js';
import type { MinDiskBounds } from './realism.js';

/** A quick-import request that passed validation, with the API's defaults applied. */
export interface ImportRequest {
  readonly name: string;
  readonly description: string;
  readonly type: 'ECS' | 'BMS' | 'DataImage';
  readonly bucket: string;
  readonly key: string;
  readonly minDisk: number;
  /** System images only. */
  readonly os: OsVersion | undefined;
  readonly osType: 'Linux' | 'Windows';
  /** System images only. */
  readonly architecture: 'x86' | 'arm' | undefined;
  /** System images only. */
  readonly firmware: 'bios' | 'uefi' | undefined;
  readonly enterpriseProjectId: string;
  /** In request order, keys unique. */
  readonly tags: readonly Tag[];
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

export const MAX_TAGS = 10;
const NAME = /^[A-Za-z0-9._\- ]*$/;
const TAG_KEY = /^[A-Za-z0-9_\u4E00-\u9FFF-]{1,36}$/;
const TAG_VALUE = /^[A-Za-z0-9_.\u4E00-\u9FFF-]{0,43}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The JSON of a request body: an empty body is IMG.0007, anything unparsable IMG.0001. */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new ImsFailure('IMG.0007');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ImsFailure('IMG.0001', 'the request body is not valid JSON');
  }
}

type FieldType = 'string' | 'number' | 'strings' | 'tag objects';

/**
 * The fields IMS reads, by JSON type. A wrong type is IMG.0001, as a typed deserializer would
 * refuse it before any rule is checked. `null` counts as absent. Fields not listed here are ignored,
 * as the real endpoint most likely does (a Java service that tolerates unknown properties); fields
 * of the other kind of image (os_version on a data image, os_type on a system image) are ignored too.
 */
const IMPORT_FIELDS: Readonly<Record<string, FieldType>> = {
  name: 'string',
  description: 'string',
  image_url: 'string',
  os_version: 'string',
  os_type: 'string',
  min_disk: 'number',
  type: 'string',
  architecture: 'string',
  hw_firmware_type: 'string',
  license_type: 'string',
  enterprise_project_id: 'string',
  tags: 'strings',
  image_tags: 'tag objects',
};

/**
 * The smallest min_disk of a system image under the `current` bounds (HW ims_03_0605, 2026-01):
 * Linux 10 GB, Windows 20 GB. Data images and the `legacy` bounds take 1 GB (OTC and the SDK).
 */
const CURRENT_MIN_DISK: Readonly<Record<ImportRequest['osType'], number>> = { Linux: 10, Windows: 20 };

export interface QuickImportRules {
  /** min_disk of a system image: 1–1024 (`legacy`, the default) or the OS's floor to 1024 (`current`). */
  readonly minDiskBounds?: MinDiskBounds;
}

export function validateQuickImport(body: Buffer, rules: QuickImportRules = {}): ImportRequest {
  const parsed = parseJson(body);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ImsFailure('IMG.0001', 'the request body must be a JSON object');
  }
  const fields = new Map<string, unknown>();
  for (const [field, value] of Object.entries(parsed)) {
    const type = IMPORT_FIELDS[field];
    if (type === undefined || value === null) continue;
    if (!hasType(value, type)) throw new ImsFailure('IMG.0001', `${field} must be ${typeName(type)}`);
    fields.set(field, value);
  }
  const get: Getter = <T>(field: string) => fields.get(field) as T | undefined;

  const name = get<string>('name');
  checkName(name);
  const description = get<string>('description') ?? '';
  checkDescription(description);

  const type = get<string>('type') ?? 'ECS';
  if (type !== 'ECS' && type !== 'BMS' && type !== 'DataImage') {
    throw new ImsFailure('IMG.0024', `type must be ECS, BMS or DataImage, not ${JSON.stringify(type)}`);
  }
  const { bucket, key } = checkImageUrl(get<string>('image_url'));
  const minDisk = get<number>('min_disk');
  if (minDisk === undefined || !Number.isInteger(minDisk) || minDisk < 1 || minDisk > 1024) {
    throw new ImsFailure('IMG.0055', 'min_disk must be a whole number of GB from 1 to 1024');
  }

  const kind = type === 'DataImage' ? dataImageFields(get) : systemImageFields(get);
  if (rules.minDiskBounds === 'current' && type !== 'DataImage' && minDisk < CURRENT_MIN_DISK[kind.osType]) {
    throw new ImsFailure(
      'IMG.0055',
      `min_disk must be a whole number of GB from ${CURRENT_MIN_DISK[kind.osType]} to 1024 for a ${kind.osType} system image`,
    );
  }
  return {
    name,
    description,
    type,
    bucket,
    key,
    minDisk,
    ...kind,
    enterpriseProjectId: checkEnterpriseProject(get<string>('enterprise_project_id') ?? '0'),
    tags: importTags(get<string[]>('tags'), get<{ key: string; value?: string }[]>('image_tags')),
  };
}

type Getter = <T>(field: string) => T | undefined;
type KindFields = Pick<ImportRequest, 'os' | 'osType' | 'architecture' | 'firmware'>;

function dataImageFields(get: Getter): KindFields {
  const osType = get<string>('os_type') ?? 'Linux';
  if (osType !== 'Linux' && osType !== 'Windows') {
    throw new ImsFailure('IMG.0122', `os_type must be Linux or Windows, not ${JSON.stringify(osType)}`);
  }
  return { os: undefined, osType, architecture: undefined, firmware: undefined };
}

function systemImageFields(get: Getter): KindFields {
  const osVersion = get<string>('os_version');
  const os = osVersion === undefined ? undefined : findOsVersion(osVersion);
  if (os === undefined) {
    throw new ImsFailure(
      'IMG.0056',
      osVersion === undefined
        ? 'os_version is required for a system disk image'
        : `${JSON.stringify(osVersion)} is not in the os_version list (GET /v1/cloudimages/os_version)`,
    );
  }
  const architecture = get<string>('architecture') ?? 'x86';
  if (architecture !== 'x86' && architecture !== 'arm') {
    throw new ImsFailure('IMG.0212', `architecture must be x86 or arm, not ${JSON.stringify(architecture)}`);
  }
  const firmware = checkFirmware(get<string>('hw_firmware_type'), architecture);
  const license = get<string>('license_type');
  if (license !== undefined && license !== 'platform' && license !== 'byol') {
    throw new ImsFailure('IMG.0001', `license_type must be platform or byol, not ${JSON.stringify(license)}`);
  }
  return { os, osType: os.os_type, architecture, firmware };
}

function hasType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number';
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'tag objects':
      return (
        Array.isArray(value) &&
        value.every(
          (item: unknown) =>
            typeof item === 'object' &&
            item !== null &&
            !Array.isArray(item) &&
            typeof (item as { key?: unknown }).key === 'string' &&
            ['string', 'undefined'].includes(typeof (item as { value?: unknown }).value),
        )
      );
  }
}

function typeName(type: FieldType): string {
  return {
    string: 'a string',
    number: 'a number',
    strings: 'an array of strings',
    'tag objects': 'an array of {key, value} objects with string values',
  }[type];
}

/** 1–128 letters, digits, `-`, `.`, `_` and spaces, not starting or ending with a space. */
export function checkName(name: string | undefined): asserts name is string {
  if (name === undefined || name === '') throw new ImsFailure('IMG.0013');
  if (name.length > 128) throw new ImsFailure('IMG.0002', `the name has ${name.length} characters`);
  if (!NAME.test(name) || name.startsWith(' ') || name.endsWith(' ')) {
    throw new ImsFailure(
      'IMG.0003',
      'a name takes letters, digits, "-", ".", "_" and spaces, and does not start or end with a space',
    );
  }
}

/** At most 1024 characters, no carriage return, `<` or `>`. */
export function checkDescription(description: string): void {
  if (description.length > 1024) {
    throw new ImsFailure('IMG.0004', `the description has ${description.length} characters`);
  }
  if (/[\r<>]/.test(description)) {
    throw new ImsFailure('IMG.0054', 'a description cannot contain a carriage return, "<" or ">"');
  }
}

function checkImageUrl(url: string | undefined): { bucket: string; key: string } {
  const colon = url?.indexOf(':') ?? -1;
  if (url === undefined || colon < 0) {
    throw new ImsFailure('IMG.0017', 'image_url must be "bucket:object", e.g. ims-image:centos70.zvhd2');
  }
  const bucket = url.slice(0, colon);
  const key = url.slice(colon + 1);
  if (bucket === '') throw new ImsFailure('IMG.0068');
  if (!BUCKET.test(bucket) || /\.\.|\.-|-\./.test(bucket) || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw new ImsFailure(
      'IMG.0109',
      `${JSON.stringify(bucket)} is not an OBS bucket name (3-63 lower-case letters, digits, "-" and ".")`,
    );
  }
  if (key === '' || key.startsWith('/')) {
    throw new ImsFailure('IMG.0017', 'image_url must name an object after the colon, without a leading "/"');
  }
  if (/\s/.test(key)) throw new ImsFailure('IMG.0175');
  return { bucket, key };
}

/** bios or uefi; arm boots only uefi, and is uefi when none is given. */
export function checkFirmware(firmware: string | undefined, architecture: string): 'bios' | 'uefi' {
  if (firmware !== undefined && firmware !== 'bios' && firmware !== 'uefi') {
    throw new ImsFailure('IMG.0141', `not ${JSON.stringify(firmware)}`);
  }
  if (architecture === 'arm' && firmware === 'bios') throw new ImsFailure('IMG.0141', 'arm images boot with uefi only');
  return firmware ?? (architecture === 'arm' ? 'uefi' : 'bios');
}

/** "0" (the default project) or a UUID. */
export function checkEnterpriseProject(id: string): string {
  if (id !== '0' && !UUID.test(id)) {
    throw new ImsFailure('IMG.0155', `enterprise_project_id must be "0" or a UUID, not ${JSON.stringify(id)}`);
  }
  return id;
}

function importTags(tags: string[] | undefined, imageTags: { key: string; value?: string }[] | undefined): Tag[] {
  if (tags !== undefined && imageTags !== undefined) {
    throw new ImsFailure('IMG.0115', 'tags and image_tags cannot both be given');
  }
  // Old-style tags are `key.value`, split at the first dot; without a dot the value is empty.
  const pairs =
    tags?.map((tag) => {
      const dot = tag.indexOf('.');
      return dot < 0 ? { key: tag, value: '' } : { key: tag.slice(0, dot), value: tag.slice(dot + 1) };
    }) ??
    imageTags ??
    [];
  if (pairs.length > MAX_TAGS) {
    throw new ImsFailure('IMG.0116', `${pairs.length} tags given; an image takes at most ${MAX_TAGS}`);
  }
  return checkTags(pairs);
}

/** Tags to set on an image: keys 1–36 and values 0–43 of the documented characters, keys unique. */
export function checkTags(tags: readonly { key: string; value?: string | undefined }[]): Tag[] {
  const keys = new Set<string>();
  return tags.map(({ key, value }) => {
    if (value === undefined) throw new ImsFailure('IMG.0115', `tag ${JSON.stringify(key)} has no value`);
    if (!TAG_KEY.test(key)) {
      throw new ImsFailure('IMG.0115', `tag key ${JSON.stringify(key)} must be 1-36 letters, digits, "_" or "-"`);
    }
    if (!TAG_VALUE.test(value)) {
      throw new ImsFailure(
        'IMG.0115',
        `tag value ${JSON.stringify(value)} must be at most 43 letters, digits, "_", "." or "-"`,
      );
    }
    if (keys.has(key)) throw new ImsFailure('IMG.0115', `tag key ${JSON.stringify(key)} is given twice`);
    keys.add(key);
    return { key, value };
  });
}

/** The body of POST .../tags/action: `{"action": "create" | "delete", "tags": [{key, value}]}`. */
export function validateTagsAction(body: Buffer): { action: 'create' | 'delete'; tags: Tag[] } {
  const parsed = parseJson(body) as { action?: unknown; tags?: unknown } | null;
  const action = typeof parsed === 'object' ? parsed?.action : undefined;
  if (action !== 'create' && action !== 'delete') {
    throw new ImsFailure('IMG.0001', 'action must be "create" or "delete"');
  }
  const tags = parsed?.tags;
  if (!hasType(tags, 'tag objects')) throw new ImsFailure('IMG.0001', `tags must be ${typeName('tag objects')}`);
  const list = tags as { key: string; value?: string }[];
  if (action === 'create') return { action, tags: checkTags(list) };
  // Deletion checks lengths only, so that tags from older rules can still be removed.
  const keys = new Set<string>();
  for (const { key, value = '' } of list) {
    if (key.trim() === '' || key.length > 127 || value.length > 255) {
      throw new ImsFailure('IMG.0115', `tag ${JSON.stringify(key)}: keys are 1-127 characters, values at most 255`);
    }
    if (keys.has(key)) throw new ImsFailure('IMG.0115', `tag key ${JSON.stringify(key)} is given twice`);
    keys.add(key);
  }
  return { action, tags: list.map(({ key, value = '' }) => ({ key, value })) };
}

/** The body of POST .../tags: `{"tag": {key, value}}`. */
export function validateTagBody(body: Buffer): Tag {
  const parsed = parseJson(body) as { tag?: unknown } | null;
  const tag = typeof parsed === 'object' ? parsed?.tag : undefined;
  if (!hasType([tag], 'tag objects')) throw new ImsFailure('IMG.0001', 'tag must be a {key, value} object');
  const [checked] = checkTags([tag as { key: string; value?: string }]);
  return checked as Tag;
}

/** One tag condition of a tag query: the image has the key, with any of the values (any value when none). */
export interface TagCondition {
  readonly key: string;
  readonly values: readonly string[];
}

/** A body of POST /v2/{project_id}/images/resource_instances/action that passed validation, defaults applied. */
export interface TagQuery {
  readonly action: 'filter' | 'count';
  /** Each list is empty when not given: the documentation refuses an empty list, so empty means absent. */
  readonly tags: readonly TagCondition[];
  readonly tagsAny: readonly TagCondition[];
  readonly notTags: readonly TagCondition[];
  readonly notTagsAny: readonly TagCondition[];
  /** Only images without tags; the four lists above are then ignored, as documented. */
  readonly withoutAnyTag: boolean;
  /** From `matches`: a part of the image's name, and its exact id. */
  readonly nameContains: string | undefined;
  readonly id: string | undefined;
  /** Filter only. */
  readonly limit: number;
  readonly offset: number;
}

/** The documented limits of a tag query (HW ims_03_0616): keys and values per list, their lengths. */
const MAX_QUERY_KEYS = 10;
const MAX_QUERY_VALUES = 10;
const MAX_QUERY_KEY_LENGTH = 127;
const MAX_QUERY_VALUE_LENGTH = 255;
/** limit is 1–1000 and defaults to 10 (the documentation and the SDKs agree on 10). */
const MAX_QUERY_LIMIT = 1000;
const DEFAULT_QUERY_LIMIT = 10;

/**
 * Every problem is IMG.0001. Tag keys and values are checked for length only: the documentation
 * says the character set is not checked in a query, so that tags from older rules can be found.
 */
export function validateTagQuery(body: Buffer): TagQuery {
  const parsed = parseJson(body);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ImsFailure('IMG.0001', 'the request body must be a JSON object');
  }
  const fields = parsed as Record<string, unknown>;
  // null counts as absent, as in the other bodies.
  const given = (field: string): unknown => fields[field] ?? undefined;
  const action = given('action');
  if (action !== 'filter' && action !== 'count') {
    throw new ImsFailure('IMG.0001', 'action must be "filter" or "count" (case-sensitive)');
  }
  const withoutAnyTag = given('without_any_tag') ?? false;
  if (typeof withoutAnyTag !== 'boolean') throw new ImsFailure('IMG.0001', 'without_any_tag must be true or false');
  const matches = queryMatches(given('matches'));
  // limit and offset mean nothing to a count, which ignores them as documented.
  const filter = action === 'filter';
  const limit = filter ? wholeNumber('limit', given('limit'), DEFAULT_QUERY_LIMIT) : DEFAULT_QUERY_LIMIT;
  if (limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw new ImsFailure('IMG.0001', `limit must be from "1" to "${MAX_QUERY_LIMIT}"`);
  }
  const offset = filter ? wholeNumber('offset', given('offset'), 0) : 0;
  return {
    action,
    tags: tagConditions('tags', given('tags')),
    tagsAny: tagConditions('tags_any', given('tags_any')),
    notTags: tagConditions('not_tags', given('not_tags')),
    notTagsAny: tagConditions('not_tags_any', given('not_tags_any')),
    withoutAnyTag,
    nameContains: matches.get('resource_name'),
    id: matches.get('resource_id'),
    limit,
    offset,
  };
}

function tagConditions(field: string, value: unknown): TagCondition[] {
  if (value === undefined) return [];
  const shape = `${field} must be a non-empty array of {"key": string, "values": [string]} objects`;
  if (!Array.isArray(value) || value.length === 0) throw new ImsFailure('IMG.0001', shape);
  if (value.length > MAX_QUERY_KEYS) {
    throw new ImsFailure('IMG.0001', `${field} has ${value.length} keys; at most ${MAX_QUERY_KEYS} are allowed`);
  }
  const keys = new Set<string>();
  return value.map((item: unknown) => {
    const { key, values } = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    if (typeof key !== 'string' || !Array.isArray(values) || !values.every((v) => typeof v === 'string')) {
      throw new ImsFailure('IMG.0001', shape);
    }
    const where = `${field} key ${JSON.stringify(key)}`;
    if (key.trim() === '' || key.length > MAX_QUERY_KEY_LENGTH) {
      throw new ImsFailure('IMG.0001', `${where}: keys are 1-${MAX_QUERY_KEY_LENGTH} characters, not blank`);
    }
    if (keys.has(key)) throw new ImsFailure('IMG.0001', `${where} is given twice`);
    keys.add(key);
    if (values.length > MAX_QUERY_VALUES) {
      throw new ImsFailure('IMG.0001', `${where} has ${values.length} values; at most ${MAX_QUERY_VALUES} are allowed`);
    }
    if (new Set(values).size !== values.length) throw new ImsFailure('IMG.0001', `${where} repeats a value`);
    const long = values.find((v) => v.length > MAX_QUERY_VALUE_LENGTH);
    if (long !== undefined) {
      throw new ImsFailure('IMG.0001', `${where}: values are at most ${MAX_QUERY_VALUE_LENGTH} characters`);
    }
    return { key, values };
  });
}

/** `matches`: resource_name and resource_id, each at most once, with a non-empty value. */
function queryMatches(value: unknown): Map<string, string> {
  const found = new Map<string, string>();
  if (value === undefined) return found;
  const shape = 'matches must be a non-empty array of {"key": "resource_name" | "resource_id", "value": string}';
  if (!Array.isArray(value) || value.length === 0) throw new ImsFailure('IMG.0001', shape);
  for (const item of value as unknown[]) {
    const { key, value: text } = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    if ((key !== 'resource_name' && key !== 'resource_id') || typeof text !== 'string') {
      throw new ImsFailure('IMG.0001', shape);
    }
    if (found.has(key)) throw new ImsFailure('IMG.0001', `matches key ${key} is given twice`);
    if (text === '' || text.length > MAX_QUERY_VALUE_LENGTH) {
      throw new ImsFailure('IMG.0001', `matches ${key}: the value is 1-${MAX_QUERY_VALUE_LENGTH} characters`);
    }
    found.set(key, text);
  }
  return found;
}

/** limit and offset are strings of digits in this API, not JSON numbers. */
function wholeNumber(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new ImsFailure('IMG.0001', `${field} must be a string of a whole number, e.g. "${fallback}"`);
  }
  return Number(value);
}
