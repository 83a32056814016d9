import pc from 'picocolors';

/** Where a command writes, and whether it may colour: the CLI's only window on the terminal. */
export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly color: ReturnType<typeof pc.createColors>;
}

export function processOutput(): Output {
  const tty = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  return {
    // Nothing more is written once the reader has gone (EPIPE: main.ts stops the command).
    out: (text) => void (process.stdout.writable && process.stdout.write(text)),
    err: (text) => process.stderr.write(text),
    color: pc.createColors(tty),
  };
}
