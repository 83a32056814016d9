// A strict parser of the Prometheus text exposition format (version 0.0.4), for checking what a
// /metrics endpoint serves: every line is a `# HELP`, a `# TYPE`, another comment or a sample;
// each family has at most one HELP and one TYPE, the TYPE before its samples; a family's samples
// are contiguous; no sample repeats; a histogram's buckets are cumulative and end at +Inf with its
// count. Any violation throws, naming the line.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (a histogram's `_bucket`, `_sum` and `_count` included). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly line: number;
}

export interface MetricFamily {
  readonly name: string;
  help?: string;
  type?: MetricType;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheus(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  /** Families whose samples have ended (another family's sample came after them). */
  const closed = new Set<string>();
  let current: string | undefined;
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const number = index + 1;
    const fail = (why: string): never => {
      throw new Error(`line ${number}: ${why}: ${JSON.stringify(raw)}`);
    };
    const familyOf = (name: string): MetricFamily => {
      let family = families.get(name);
      if (!family) {
        family = { name, samples: [] };
        families.set(name, family);
      }
      return family;
    };
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!meta) return; // another comment
      const [, kind, name, rest = ''] = meta as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) fail('bad metric name');
      const family = familyOf(name);
      if (kind === 'HELP') {
        if (family.help !== undefined) fail('a second HELP');
        family.help = unescapeHelp(rest, fail);
      } else {
        if (family.type !== undefined) fail('a second TYPE');
        if (family.samples.length > 0) fail('TYPE after the samples of its family');
        if (!TYPES.has(rest.trim() as MetricType)) fail('unknown type');
        family.type = rest.trim() as MetricType;
      }
      return;
    }
    const sample = parseSample(raw, number, fail);
    const family = familyOf(familyName(sample.name, families));
    if (current !== family.name) {
      if (current !== undefined) closed.add(current);
      if (closed.has(family.name)) fail(`samples of ${family.name} are not contiguous`);
      current = family.name;
    }
    const identity = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(identity)) fail('a repeated sample');
    seen.add(identity);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The family a sample belongs to: its own name, or a histogram's or summary's base name. */
function familyName(sample: string, families: ReadonlyMap<string, MetricFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const base = families.get(sample.slice(0, -suffix.length));
    if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base.name;
  }
  return sample;
}

function parseSample(raw: string, line: number, fail: (why: string) => never): Sample {
  const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(raw);
  if (!head) fail('not a sample line');
  const name = head[1]!;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (raw[at] === '{') {
    at++;
    for (;;) {
      if (raw[at] === '}') {
        at++;
        break;
      }
      const label = /^([^=\s]+)="/.exec(raw.slice(at));
      if (!label || !LABEL_NAME.test(label[1]!)) fail('bad label');
      at += label[0].length;
      let value = '';
      for (;;) {
        const char = raw[at];
        if (char === undefined) fail('unterminated label value');
        if (char === '"') break;
        if (char === '\\') {
          const next = raw[at + 1];
          if (next === 'n') value += '\n';
          else if (next === '\\' || next === '"') value += next;
          else fail('bad escape in a label value');
          at += 2;
        } else {
          value += char;
          at++;
        }
      }
      at++; // the closing quote
      if (Object.hasOwn(labels, label[1]!)) fail(`label ${label[1]!} twice`);
      labels[label[1]!] = value;
      if (raw[at] === ',') at++;
      else if (raw[at] !== '}') fail('expected "," or "}" after a label');
    }
  }
  const rest = raw.slice(at);
  const parts = /^ +(\S+)(?: +(-?\d+))?$/.exec(rest);
  if (!parts) fail('expected " value [timestamp]" after the name and labels');
  return { name, labels, value: parseValue(parts[1]!, fail), line };
}

/**
 * A value as Prometheus reads it (Go's strconv.ParseFloat): a decimal float, or NaN, Inf and
 * Infinity (signed or not) in any case. prom-client writes NaN as "Nan", which Prometheus accepts
 * (OpenMetrics would not).
 */
function parseValue(text: string, fail: (why: string) => never): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text);
  if (special) {
    if (special[2]!.toLowerCase() === 'nan') return special[1] === '' ? NaN : fail(`bad value ${text}`);
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(`bad value ${text}`);
  return Number(text);
}

function unescapeHelp(text: string, fail: (why: string) => never): string {
  return text.replace(/\\(.?)/g, (_, next: string) => {
    if (next === 'n') return '\n';
    if (next === '\\') return '\\';
    return fail('bad escape in HELP');
  });
}

function checkHistogram(family: MetricFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...others } = sample.labels;
    const id = JSON.stringify(Object.entries(others).sort());
    const group = groups.get(id) ?? { buckets: [] };
    groups.set(id, group);
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`line ${sample.line}: a bucket without "le"`);
      group.buckets.push([le === '+Inf' ? Infinity : Number(le), sample.value]);
    } else if (sample.name === `${family.name}_count`) group.count = sample.value;
    else if (sample.name === `${family.name}_sum`) group.sum = sample.value;
    else throw new Error(`line ${sample.line}: ${sample.name} in histogram ${family.name}`);
  }
  for (const group of groups.values()) {
    const sorted = [...group.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![1] < sorted[i - 1]![1]) throw new Error(`histogram ${family.name}: buckets are not cumulative`);
    }
    const last = sorted[sorted.length - 1];
    if (last?.[0] !== Infinity) throw new Error(`histogram ${family.name}: no +Inf bucket`);
    if (group.count !== last[1]) throw new Error(`histogram ${family.name}: _count differs from the +Inf bucket`);
    if (group.sum === undefined) throw new Error(`histogram ${family.name}: no _sum`);
  }
}

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(
  families: ReadonlyMap<string, MetricFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) {
        return sample.value;
      }
    }
  }
  return undefined;
}

/** Every sample named `name`. */
export function samplesNamed(families: ReadonlyMap<string, MetricFamily>, name: string): Sample[] {
  return [...families.values()].flatMap((family) => family.samples.filter((sample) => sample.name === name));
}
