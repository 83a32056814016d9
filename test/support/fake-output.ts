// An Output that keeps what is written, without colours, for renderer tests.
import pc from 'picocolors';
import type { Output } from '../../src/cli/output.js';

export function fakeOutput(): { output: Output; text: () => string } {
  const chunks: string[] = [];
  const output: Output = {
    out: (text) => void chunks.push(text),
    err: (text) => void chunks.push(text),
    color: pc.createColors(false),
  };
  return { output, text: () => chunks.join('') };
}
