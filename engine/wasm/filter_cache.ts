/**
 * A small cache of transformed filters (the Winograd forward's U = G g G^T, packed), keyed by
 * the filter's contents: when a model predicts with weights that did not change since the last
 * call, the convolutions reuse their transforms instead of recomputing them. At batch 1 those
 * transforms were 0.32 of the 0.6-0.9 ms of the seed CNN's forward pass. In training the weights
 * change every step, so every lookup misses, at the cost of a comparison that stops at the first
 * differing word and a copy of the weights (~10 us for conv4's 37K floats) into the slot the
 * layer's last transform held (when misses went to the least recently used slot, whose arrays had
 * another layer's size, the cache cost 0.4-0.5 ms per training step: now 0.13-0.15).
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
  /** Lookups it answered since it was computed. */
  hits: number;
}

/**
 * Transformed filters in up to `capacity` slots. A miss goes to a slot of the same key that no
 * lookup has hit since it was computed (in training the weights change every step: each step's
 * transform replaces the last in place, allocating nothing and evicting no other layer's), else
 * to a new slot, else to the least recently used. Versions of a key that were hit stay, so two
 * models of the same shapes predicting in turn keep both.
 */
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
    let index = -1;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i]!;
      if (slot.key !== key) continue;
      if (sameWords(slot.bits, words)) {
        slot.used = this.clock;
        slot.hits++;
        return slot.at;
      }
      if (slot.hits === 0) index = i;
    }
    if (index < 0) index = this.slots.length;
    if (index >= this.capacity) {
      index = 0;
      for (let i = 1; i < this.slots.length; i++) {
        if (this.slots[i]!.used < this.slots[index]!.used) index = i;
      }
    }
    const at = this.region(index, bytes);
    const slot = this.slots[index] ??= { key: "", bits: new Uint32Array(0), at, used: 0, hits: 0 };
    // The slot holds no claim while `compute` runs: if it throws, nothing stale stays behind.
    slot.key = "";
    if (slot.bits.length !== words.length) slot.bits = new Uint32Array(words.length);
    slot.at = at;
    slot.used = this.clock;
    slot.hits = 0;
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
