// The CLI's only window on the terminal: what it writes there is made printable on the way.
import pc from 'picocolors';
import { printable } from '../text.js';

/** Where a command writes, and whether it may colour: the CLI's only window on the terminal. */
export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly color: ReturnType<typeof pc.createColors>;
}

export function processOutput(): Output {
  const tty = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  // Text from outside (answers, a state, manifests) may hold escapes that retitle, clear or
  // rewrite the terminal: every one goes here, whichever command wrote it, but our own colours.
  const clean = (text: string) => printable(text, { newlines: true, colors: tty });
  return {
    // Nothing more is written once the reader has gone (EPIPE: main.ts stops the command).
    out: (text) => void (process.stdout.writable && process.stdout.write(clean(text))),
    err: (text) => process.stderr.write(clean(text)),
    color: pc.createColors(tty),
  };
}
