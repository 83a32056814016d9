// Flag values: durations (each ends up as a timer, so none may be longer than one holds), and plan --format.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/config.js';
import {
  parseDuration,
  parseExecutorFlags,
  parseLockTimeout,
  parsePlanFlags,
  parsePlanFormat,
  parseSettleGrace,
} from '../../src/cli/flags.js';

/** Node's longest timer: 2^31 - 1 ms, about 24.8 days. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Each duration flag, parsed as its command parses it. */
const FLAGS: Record<string, (value: string) => number> = {
  '--interval': (value) => parseDuration(value, '--interval'),
  '--wait-timeout': (value) => parseDuration(value, '--wait-timeout'),
  '--lock-timeout': (value) => parseLockTimeout(value),
  '--settle-grace': (value) => parseSettleGrace(value),
  IMSYNC_REQUEST_TIMEOUT: (value) => parseDuration(value, 'IMSYNC_REQUEST_TIMEOUT'),
  '--preflight-max-age': (value) => parsePlanFlags({ preflightMaxAge: value }).preflight.maxAgeMs,
};

describe('duration flags', () => {
  it.each(Object.entries(FLAGS))(
    '%s: refused beyond the longest timer, naming the flag and the maximum',
    (flag, parse) => {
      for (const value of ['597h', '2147483648ms', '100000m', '3000000000']) {
        expect(() => parse(value), value).toThrow(UsageError);
        expect(() => parse(value), value).toThrow(`${flag} "${value}" is too long: at most 596h (about 24 days)`);
      }
      expect(parse('596h')).toBe(596 * 3_600_000);
      expect(parse(`${LONGEST_TIMER_MS}ms`)).toBe(LONGEST_TIMER_MS);
    },
  );

  it('checks the executor flags before anything is read or sent', () => {
    expect(() => parseExecutorFlags({ lockTimeout: '1000h' })).toThrow('--lock-timeout "1000h" is too long');
    expect(() => parseExecutorFlags({ settleGrace: '1000h' })).toThrow('--settle-grace "1000h" is too long');
  });
});

describe('the pre-flight flags', () => {
  it('check on, warn of a re-upload, trust for an hour by default; each can be changed, and a bad value is named', () => {
    expect(parsePlanFlags({}).preflight).toEqual({ preflight: true, onReupload: 'warn', maxAgeMs: 3_600_000 });
    expect(parsePlanFlags({ preflight: false, reupload: 'replace', preflightMaxAge: '0s' }).preflight).toEqual({
      preflight: false,
      onReupload: 'replace',
      maxAgeMs: 0,
    });
    expect(() => parsePlanFlags({ reupload: 'ignore' })).toThrow('--reupload "ignore" must be warn or replace');
    expect(() => parsePlanFlags({ preflightMaxAge: 'soon' })).toThrow(
      '--preflight-max-age "soon" is not a duration such as 500ms, 30s, 5m or 1h',
    );
  });
});

describe('plan --format', () => {
  it.each([
    [{}, 'text'],
    [{ format: 'markdown' }, 'markdown'],
    [{ format: 'json' }, 'json'],
    [{ json: true }, 'json'],
    [{ json: true, format: 'json' }, 'json'],
  ])('%o is %s', (flags, format) => {
    expect(parsePlanFormat(flags)).toBe(format);
  });

  it.each([
    [{ json: true, format: 'markdown' }, '--json and --format markdown contradict each other: --json is --format json'],
    [{ json: true, format: 'text' }, '--json and --format text contradict each other'],
    [{ format: 'md' }, '--format "md" must be one of text, json, markdown'],
  ])('refuses %o, naming the flags', (flags, message) => {
    expect(() => parsePlanFormat(flags)).toThrow(UsageError);
    expect(() => parsePlanFormat(flags)).toThrow(message);
  });
});
