/**
 * One seeded random generator for the whole engine: every initializer, every shuffle and every
 * dropout mask draws from it, so the same seed gives the same run, bit for bit. The algorithm is
 * xoshiro128** (small state, fast in 32-bit integer arithmetic, good statistical quality); its
 * state can be saved and restored, which is what a checkpoint needs to resume exactly.
 *
 * @module
 */

/** A generator's full state (see {@linkcode Random.getState}). */
export interface RandomState {
  /** The four 32-bit words of the xoshiro128** state. */
  readonly s: readonly number[];
  /** The cached second normal of the last Box-Muller pair, or null. */
  readonly spareNormal: number | null;
}

/** A seeded generator of uniform and normal floats and integers. */
export class Random {
  #s = new Uint32Array(4);
  #spareNormal: number | null = null;

  /** Seeds the generator; any integer works (splitmix32 spreads it over the 128-bit state). */
  constructor(seed = 0) {
    if (!Number.isFinite(seed)) {
      throw new RangeError(`Cannot seed Random: seed must be a finite number, received ${seed}`);
    }
    let x = Math.trunc(seed) >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A float uniform in [0, 1), with 32 random bits. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A float uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A standard normal float (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spareNormal !== null) {
      const v = this.#spareNormal;
      this.#spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** An integer uniform in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new RangeError(
        `Cannot draw Random.int(n): n must be an integer in [1, 2^32], received ${n}`,
      );
    }
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** The generator's full state, for checkpoints. */
  getState(): RandomState {
    return { s: Array.from(this.#s), spareNormal: this.#spareNormal };
  }

  /** Restores a state returned by {@linkcode Random.getState}. */
  setState(state: RandomState): void {
    if (state.s.length !== 4) {
      throw new TypeError(
        `Cannot restore Random: expected 4 state words, received ${state.s.length}`,
      );
    }
    for (let i = 0; i < 4; i++) this.#s[i] = state.s[i]! >>> 0;
    this.#spareNormal = state.spareNormal;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
