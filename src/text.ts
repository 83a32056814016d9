// Text that came from outside (IMS answers, a state an older imsync wrote, manifests), made safe
// to keep and to show: bounded in length, and free of control characters and terminal escapes,
// which would let an answer retitle, clear or rewrite the terminal it is printed on.

/**
 * What a terminal acts on, in the order it is looked for: escape sequences (CSI: ESC [ or 0x9b,
 * up to its final byte; OSC, DCS, SOS, PM and APC: ESC ] P X ^ _ or their 8-bit forms, up to BEL
 * or ST, or the end; any other ESC with the character after it), newlines, and the other C0 and
 * C1 controls but tab, DEL, and the bidirectional overrides that reorder a line.
 */
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]?|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[\s\S]?|\r?\n|[\u2028\u2029]|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const NEWLINE = /^(?:\r?\n|[\u2028\u2029])$/;
/** Select Graphic Rendition (colours, bold): all picocolors writes. */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const SGR = /^\u001b\[[0-9;]*m$/;

/**
 * The text without escape sequences and control characters; newlines become spaces unless
 * `newlines` keeps them (a multi-line message), so that one field cannot forge a line of its own;
 * `colors` keeps SGR sequences, which change how text looks and nothing else.
 */
export function printable(text: string, { newlines = false, colors = false } = {}): string {
  return text.replace(UNPRINTABLE, (found) => {
    if (NEWLINE.test(found)) return newlines ? '\n' : ' ';
    return colors && SGR.test(found) ? found : '';
  });
}

/** At most `max` characters of `text`, and how many more there were. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never half of a surrogate pair.
  const cut = /[\ud800-\udbff]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, cut)}… (${text.length - cut} more characters)`;
}

/** An excerpt of an answer, to quote in a message or a record: printable, on one line, bounded. */
export function excerpt(text: string, max = 200): string {
  return truncate(printable(text).trim(), max);
}

/**
 * JSON text whose every character is safe on a terminal: JSON.stringify escapes C0 controls
 * itself, not DEL, C1 (0x9b is CSI to many terminals) or the line separators. The value read
 * back is the same.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
