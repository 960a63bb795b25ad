/**
 * A small cache of transformed filters (the Winograd forward's U = G g G^T, packed), keyed by
 * the filter's contents: when a model predicts with weights that did not change since the last
 * call, the convolutions reuse their transforms instead of recomputing them. At batch 1 those
 * transforms were 0.32 of the 0.6-0.9 ms of the seed CNN's forward pass. In training the weights
 * change every step, so every lookup misses, at the cost of a comparison that stops at the first
 * differing word and a copy of the weights (~10 us for conv4's 37K floats).
 *
 * The contents are compared bit for bit (as 32-bit words, so -0 and 0, and NaN payloads, count as
 * different), under a key naming everything else the transform depends on (its kind, the channel
 * counts, the strides and the flip of the filter's layout), so a hit is exactly the transform the
 * miss would compute.
 *
 * @module
 */

/** One slot: the transform of `bits` under `key`, at byte pointer `at`. */
interface Slot {
  key: string;
  bits: Uint32Array;
  at: number;
  used: number;
}

/** Transformed filters in up to `capacity` slots, least recently used evicted first. */
export class FilterCache {
  private readonly slots: Slot[] = [];
  private clock = 0;

  /**
   * An empty cache.
   *
   * @param capacity the number of slots (transforms kept).
   * @param region the byte pointer of slot i's memory, at least `bytes` long (the backend's
   * named scratch: it keeps the pointer while the size fits).
   * @param maxBytes transforms larger than this are not cached (`get` returns `undefined`), so
   * a model with large layers does not keep `capacity` copies of its largest transform.
   */
  constructor(
    private readonly capacity: number,
    private readonly region: (slot: number, bytes: number) => number,
    private readonly maxBytes: number,
  ) {}

  /**
   * The byte pointer of the transform of `w` under `key` (`bytes` long): a slot that holds it,
   * or the least recently used slot after `compute(at)` wrote it there. `undefined` when the
   * transform is larger than the cache takes (the caller computes it elsewhere).
   */
  get(
    key: string,
    w: Float32Array,
    bytes: number,
    compute: (at: number) => void,
  ): number | undefined {
    if (bytes > this.maxBytes) return undefined;
    const words = new Uint32Array(w.buffer, w.byteOffset, w.length);
    this.clock++;
    for (const slot of this.slots) {
      if (slot.key === key && sameWords(slot.bits, words)) {
        slot.used = this.clock;
        return slot.at;
      }
    }
    let index = this.slots.length;
    if (index >= this.capacity) {
      index = 0;
      for (let i = 1; i < this.slots.length; i++) {
        if (this.slots[i]!.used < this.slots[index]!.used) index = i;
      }
    }
    const at = this.region(index, bytes);
    const slot = this.slots[index] ??= { key: "", bits: new Uint32Array(0), at, used: 0 };
    // The slot holds no claim while `compute` runs: if it throws, nothing stale stays behind.
    slot.key = "";
    if (slot.bits.length !== words.length) slot.bits = new Uint32Array(words.length);
    slot.at = at;
    slot.used = this.clock;
    compute(at);
    slot.bits.set(words);
    slot.key = key;
    return at;
  }
}

/** Whether two word arrays are equal, element by element (first difference ends it). */
function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
