// The Prometheus text parser the watch e2e tests read /metrics with (test/support/prometheus.ts):
// it must read what prom-client writes, and refuse what Prometheus would refuse.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parsePrometheus, sampleValue, samplesNamed } from '../support/prometheus.js';

describe('parsePrometheus', () => {
  it("reads prom-client's exposition: HELP, TYPE, labels with escapes, histograms, NaN", async () => {
    const registry = new Registry();
    const registers = [registry];
    const requests = new Counter({
      name: 'x_requests_total',
      help: 'Requests\nby "route"',
      labelNames: ['route'],
      registers,
    });
    requests.inc({ route: 'quick_import' }, 3);
    requests.inc({ route: 'a "quoted"\\path\nnext' });
    new Gauge({ name: 'x_nan', help: 'not a number', registers }).set(NaN);
    const histogram = new Histogram({ name: 'x_seconds', help: 'time', buckets: [0.1, 1], registers });
    histogram.observe(0.05);
    histogram.observe(0.5);
    histogram.observe(5);

    const families = parsePrometheus(await registry.metrics());
    expect(families.get('x_requests_total')).toMatchObject({ type: 'counter', help: 'Requests\nby "route"' });
    expect(sampleValue(families, 'x_requests_total', { route: 'quick_import' })).toBe(3);
    expect(sampleValue(families, 'x_requests_total', { route: 'a "quoted"\\path\nnext' })).toBe(1);
    expect(sampleValue(families, 'x_nan')).toBeNaN();
    expect(families.get('x_seconds')?.type).toBe('histogram');
    expect(samplesNamed(families, 'x_seconds_bucket').map((s) => [s.labels.le, s.value])).toEqual([
      ['0.1', 1],
      ['1', 2],
      ['+Inf', 3],
    ]);
    expect(sampleValue(families, 'x_seconds_count')).toBe(3);
    expect(sampleValue(families, 'x_seconds_sum')).toBeCloseTo(5.55);
  });

  it.each([
    ['a sample that is not one', '# TYPE a counter\na{b="c"}\n'],
    ['a bad value', '# TYPE a counter\na 1x\n'],
    ['an unquoted label value', '# TYPE a counter\na{b=c} 1\n'],
    ['a bad label name', '# TYPE a counter\na{0b="c"} 1\n'],
    ['a bad escape', '# TYPE a counter\na{b="\\t"} 1\n'],
    ['a repeated sample', '# TYPE a counter\na{b="c"} 1\na{b="c"} 2\n'],
    ['TYPE after the samples', 'a 1\n# TYPE a counter\n'],
    ['two TYPEs', '# TYPE a counter\n# TYPE a gauge\na 1\n'],
    ['an unknown type', '# TYPE a meter\na 1\n'],
    ['samples of a family apart', '# TYPE a gauge\n# TYPE b gauge\na{x="1"} 1\nb 1\na{x="2"} 1\n'],
    ['no final newline', '# TYPE a counter\na 1'],
    [
      'buckets that are not cumulative',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['a count apart from +Inf', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
  ])('refuses %s', (_, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });

  it('accepts comments, blank lines, timestamps and the spellings of Inf and NaN Prometheus reads', () => {
    const families = parsePrometheus('# a comment\n\n# TYPE a gauge\na{b="x",} +Inf 1700000000000\nc NaN\nd -inf\n');
    expect(sampleValue(families, 'a', { b: 'x' })).toBe(Infinity);
    expect(sampleValue(families, 'c')).toBeNaN();
    expect(sampleValue(families, 'd')).toBe(-Infinity);
  });
});
