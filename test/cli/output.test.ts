// What reaches the terminal: text from outside loses its escapes and control characters, on the
// way out of every command (processOutput) and in the one function that does it (printable).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { processOutput } from '../../src/cli/output.js';
import { jsonText, printable, truncate } from '../../src/text.js';

afterEach(() => void vi.restoreAllMocks());

describe('printable', () => {
  it.each([
    ['a title change (OSC, ended by BEL)', 'a\u001b]0;owned\u0007b', 'ab'],
    ['a clipboard write (OSC 52, ended by ST)', 'a\u001b]52;c;b3duZWQ=\u001b\\b', 'ab'],
    ['a link (OSC 8)', '\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\', 'click'],
    ['a screen clear and a cursor move (CSI)', 'a\u001b[2J\u001b[1;1Hb', 'ab'],
    ['colours (SGR)', '\u001b[31mred\u001b[0m', 'red'],
    ['8-bit CSI and OSC', 'a\u009b2Jb\u009d0;owned\u009cc', 'abc'],
    ['a device control string (DCS)', 'a\u001bPq#0;2;0;0;0\u001b\\b', 'ab'],
    ['an OSC never ended', 'a\u001b]0;owned for ever', 'a'],
    ['a carriage return that would overwrite the line', 'done\rFAILED', 'doneFAILED'],
    ['a backspace, a bell and NUL', 'a\u0008\u0007\u0000b', 'ab'],
    ['bidirectional overrides', 'abc\u202edcba\u202c', 'abcdcba'],
    ['a newline, on one line', 'one\ntwo\r\nthree', 'one two three'],
  ])('removes %s', (_what, text, shown) => {
    expect(printable(text)).toBe(shown);
  });

  it('keeps newlines when asked, colours when asked, and tabs and any other text always', () => {
    expect(printable('one\ntwo\r\nthree', { newlines: true })).toBe('one\ntwo\nthree');
    expect(printable('\u001b[1mbold\u001b[22m\u001b]0;t\u0007', { colors: true })).toBe('\u001b[1mbold\u001b[22m');
    expect(printable('a\tb é 中 ✓')).toBe('a\tb é 中 ✓');
  });
});

describe('truncate and jsonText', () => {
  it('cuts text to its length, says how much more there was, and never splits a surrogate pair', () => {
    expect(truncate('abcdef', 4)).toBe('abcd… (2 more characters)');
    expect(truncate('abc', 4)).toBe('abc');
    expect(truncate('ab😀cd', 3)).toBe('ab… (4 more characters)');
  });

  it('escapes what JSON.stringify leaves raw (DEL, C1, line separators), reading back the same', () => {
    const value = { reason: 'a\u007f\u009b31m\u2028b\u001b' };
    expect(jsonText(value)).toBe('{"reason":"a\\u007f\\u009b31m\\u2028b\\u001b"}');
    expect(JSON.parse(jsonText(value))).toEqual(value);
  });
});

describe('processOutput', () => {
  it('writes what every command prints without terminal escapes, newlines kept', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => written.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => written.push(String(chunk)) > 0);
    const output = processOutput();
    output.out('image \u001b]0;owned\u0007img-1\u001b[2J\nnext line\n');
    output.err('imsync: \u009b31mrefused\n');
    expect(written).toEqual(['image img-1\nnext line\n', 'imsync: refused\n']);
  });
});
