/**
 * `claimShare`, the split of a task's items over its chunks: every item in exactly one chunk, in
 * order, the chunks shrinking (15, 13, ..., 1 parts of 64 for 8 chunks) so the last ones claimed
 * are short, and `share`'s even split for comparison.
 */
import assert from "node:assert/strict";
import { claimShare, claimWeight, share } from "../../../engine/wasm/tasks.ts";

Deno.test("claimShare covers every item once, in order, in shrinking chunks", () => {
  for (const count of [1, 2, 3, 8, 16]) {
    for (const total of [0, 1, 5, 7, 64, 100, 2304, 43264]) {
      let next = 0;
      const sizes: number[] = [];
      for (let i = 0; i < count; i++) {
        const [a, b] = claimShare(total, i, count);
        assert.equal(a, next, `count ${count} total ${total}: chunk ${i} starts at ${a}`);
        assert.ok(b >= a, `count ${count} total ${total}: chunk ${i} ends before it starts`);
        sizes.push(b - a);
        next = b;
      }
      assert.equal(next, total, `count ${count} total ${total}: chunks end at ${next}`);
      // Shrinking, up to the rounding of the boundaries.
      for (let i = 1; i < count; i++) {
        assert.ok(sizes[i]! <= sizes[i - 1]! + 1, `count ${count} total ${total}: ${sizes}`);
      }
    }
  }
});

Deno.test("claimShare's chunks are 2(count - i) - 1 parts of count^2", () => {
  assert.deepEqual(
    Array.from({ length: 8 }, (_, i) => claimShare(6400, i, 8)),
    [[0, 1500], [1500, 2800], [2800, 3900], [3900, 4800], [4800, 5500], [5500, 6000], [
      6000,
      6300,
    ], [6300, 6400]],
  );
  assert.deepEqual(claimShare(10, 0, 1), [0, 10]);
  // Totals whose products with count^2 are not exact floats still end at the total.
  const big = 2 ** 50 + 3;
  assert.equal(claimShare(big, 4094, 4095)[1], big);
  // share stays the even split.
  assert.deepEqual(share(10, 1, 4), [2, 5]);
});

Deno.test("claimWeight is claimShare's chunk size over the total", () => {
  for (const count of [1, 2, 8]) {
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const [a, b] = claimShare(64 * count * count, i, count);
      assert.equal(claimWeight(i, count), (b - a) / (64 * count * count));
      sum += claimWeight(i, count);
    }
    assert.ok(Math.abs(sum - 1) < 1e-12, `count ${count}: weights sum to ${sum}`);
  }
});
