// Seeded randomness: with a seed, every id and every fault decision repeats run after run.
import { randomInt } from 'node:crypto';

/** mulberry32: a tiny, fast 32-bit PRNG, plenty for ids and fault dice (not for secrets). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomSeed(): number {
  return randomInt(0, 2 ** 32);
}

/** Ids in the API's shapes, drawn from their own stream so that faults never shift them. */
export class IdSource {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** 32 lower-case hex digits, like job and request ids. */
  hex32(): string {
    let out = '';
    for (let i = 0; i < 4; i++)
      out += Math.floor(this.next() * 2 ** 32)
        .toString(16)
        .padStart(8, '0');
    return out;
  }

  /** A version-4 UUID, like image ids. */
  uuid(): string {
    const hex = this.hex32();
    const variant = ((parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20)}`;
  }
}
