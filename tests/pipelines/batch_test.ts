import assert from "node:assert/strict";
import { firstValueFrom, from, Observable, take, toArray } from "rxjs";
import { batch } from "../../pipelines/batch.ts";
import type { Example } from "../../pipelines/mnist.ts";

/** `count` synthetic rows x cols examples; pixel j of example i is (i + j) % 256, label i % 10. */
function examples(count: number, rows = 2, cols = 2): Observable<Example> {
  return new Observable<Example>((s) => {
    for (let i = 0; i < count && !s.closed; i++) {
      const image = new Uint8Array(rows * cols);
      for (let j = 0; j < image.length; j++) image[j] = (i + j) % 256;
      s.next({ image, label: i % 10, rows, cols });
    }
    s.complete();
  });
}

function example(label: number, pixels: number[], rows = 2, cols = 2): Example {
  return { image: Uint8Array.from(pixels), label, rows, cols };
}

async function errorOf(source: Observable<unknown>): Promise<unknown> {
  return await firstValueFrom(source.pipe(toArray())).then(() => null, (e) => e);
}

Deno.test("batch(64) over 60,000 2x2 examples gives 938 batches, 937 of 64 and the last of 32", async () => {
  const sizes: number[] = [];
  let labelSum = 0, firstPixelSum = 0;
  await new Promise<void>((resolve, reject) =>
    examples(60000).pipe(batch(64)).subscribe({
      next(b) {
        // the batch is only valid until the next one: read it now
        sizes.push(b.x.shape[0]!);
        assert.deepEqual([...b.x.shape], [b.x.shape[0]!, 2, 2, 1]);
        assert.deepEqual([...b.y.shape], [b.x.shape[0]!, 10]);
        assert.equal(b.x.data.length, b.x.shape[0]! * 4);
        assert.equal(b.y.data.length, b.x.shape[0]! * 10);
        for (let i = 0; i < b.x.shape[0]!; i++) {
          labelSum += b.y.data.subarray(i * 10, i * 10 + 10).indexOf(1);
          firstPixelSum += Math.round(b.x.data[i * 4]! * 255);
        }
      },
      error: reject,
      complete: resolve,
    })
  );
  assert.equal(sizes.length, 938);
  assert.ok(sizes.slice(0, 937).every((n) => n === 64));
  assert.equal(sizes[937], 32);
  // every example arrived once, in order: labels i % 10 and first pixels i % 256
  let expectedLabels = 0, expectedPixels = 0;
  for (let i = 0; i < 60000; i++) {
    expectedLabels += i % 10;
    expectedPixels += i % 256;
  }
  assert.equal(labelSum, expectedLabels);
  assert.equal(firstPixelSum, expectedPixels);
});

Deno.test("batch(64) over 128 28x28 examples gives exactly 2 full batches of [64, 28, 28, 1]", async () => {
  const shapes = await firstValueFrom(
    examples(128, 28, 28).pipe(batch(64), toArray()),
  ).then((bs) => bs.map((b) => [...b.x.shape]));
  assert.deepEqual(shapes, [[64, 28, 28, 1], [64, 28, 28, 1]]);
});

Deno.test("batch scales pixels 0, 51, 128, 255 to 0, 0.2, 128/255, 1 as float32", async () => {
  const b = await firstValueFrom(from([example(3, [0, 51, 128, 255])]).pipe(batch(4)));
  assert.ok(b.x.data instanceof Float32Array);
  assert.deepEqual([...b.x.data], [0, Math.fround(0.2), Math.fround(128 / 255), 1]);
});

Deno.test("batch one-hot encodes labels 0, 9, 4 into a [3, 10] target", async () => {
  const b = await firstValueFrom(
    from([example(0, [1, 2, 3, 4]), example(9, [1, 2, 3, 4]), example(4, [1, 2, 3, 4])]).pipe(
      batch(8),
    ),
  );
  assert.deepEqual([...b.y.shape], [3, 10]);
  const rows = [0, 1, 2].map((i) => [...b.y.data.subarray(i * 10, i * 10 + 10)]);
  assert.deepEqual(rows, [
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
  ]);
});

Deno.test("batch(2) clears the previous one-hot rows: labels 1, 2 then 3, 4 give clean targets", async () => {
  const targets: number[][] = [];
  await new Promise<void>((resolve, reject) =>
    from([1, 2, 3, 4].map((l) => example(l, [0, 0, 0, 0]))).pipe(batch(2)).subscribe({
      next: (b) => targets.push([...b.y.data]),
      error: reject,
      complete: resolve,
    })
  );
  const oneHot = (l: number) => Array.from({ length: 10 }, (_, i) => (i === l ? 1 : 0));
  assert.deepEqual(targets, [
    [...oneHot(1), ...oneHot(2)],
    [...oneHot(3), ...oneHot(4)],
  ]);
});

Deno.test("batch numClasses 3 gives [n, 3] targets and refuses label 3", async () => {
  const b = await firstValueFrom(
    from([example(2, [0, 0, 0, 0])]).pipe(batch(4, { numClasses: 3 })),
  );
  assert.deepEqual([...b.y.shape], [1, 3]);
  assert.deepEqual([...b.y.data], [0, 0, 1]);
  const err = await errorOf(from([example(3, [0, 0, 0, 0])]).pipe(batch(4, { numClasses: 3 })));
  assert.ok(err instanceof RangeError && err.message.includes("label 3"), String(err));
});

Deno.test("batch sends label 10 (of 10 classes) downstream as a RangeError naming label 10", async () => {
  const err = await errorOf(
    from([example(1, [0, 0, 0, 0]), example(10, [0, 0, 0, 0])]).pipe(batch(64)),
  );
  assert.ok(err instanceof RangeError, String(err));
  assert.match((err as Error).message, /label 10\b/);
});

Deno.test("batch sends labels -1 and NaN downstream as a RangeError naming the label", async () => {
  for (const label of [-1, NaN]) {
    const err = await errorOf(from([example(label, [0, 0, 0, 0])]).pipe(batch(64)));
    assert.ok(err instanceof RangeError, String(err));
    assert.ok((err as Error).message.includes(`label ${label}`), (err as Error).message);
  }
});

Deno.test("batch refuses a non-integer label 1.5 instead of emitting an all-zero target", async () => {
  const err = await errorOf(from([example(1.5, [0, 0, 0, 0])]).pipe(batch(64)));
  assert.ok(err instanceof RangeError, `expected a RangeError, received ${String(err)}`);
  assert.ok((err as Error).message.includes("1.5"), (err as Error).message);
});

Deno.test("batch sends a 3-pixel image after 2x2 images downstream as a TypeError naming both sizes", async () => {
  const seen: number[] = [];
  const err = await new Promise<unknown>((resolve) =>
    from([example(1, [0, 0, 0, 0]), example(2, [0, 0, 0])]).pipe(batch(1)).subscribe({
      next: (b) => seen.push(b.x.shape[0]!),
      error: resolve,
      complete: () => resolve(null),
    })
  );
  assert.deepEqual(seen, [1]);
  assert.ok(err instanceof TypeError, String(err));
  assert.match((err as Error).message, /2x2/);
  assert.match((err as Error).message, /3 pixels/);
});

Deno.test("batch sends an image of 5 pixels declared 2x2 as its first example downstream as a TypeError", async () => {
  const err = await errorOf(from([example(1, [0, 0, 0, 0, 0])]).pipe(batch(4)));
  assert.ok(err instanceof TypeError, String(err));
});

Deno.test("batch refuses sizes 0, -1 and 1.5 with a RangeError naming the value", () => {
  for (const size of [0, -1, 1.5]) {
    assert.throws(
      () => batch(size),
      (e: unknown) => e instanceof RangeError && e.message.includes(String(size)),
    );
  }
});

Deno.test("batch passes an upstream error on after flushing nothing (2 examples, batch 4)", async () => {
  const boom = new Error("boom");
  const source = new Observable<Example>((s) => {
    s.next(example(1, [0, 0, 0, 0]));
    s.next(example(2, [0, 0, 0, 0]));
    s.error(boom);
  });
  let batches = 0;
  const err = await new Promise<unknown>((resolve) =>
    source.pipe(batch(4)).subscribe({
      next: () => batches++,
      error: resolve,
      complete: () => resolve(null),
    })
  );
  assert.equal(err, boom);
  assert.equal(batches, 0);
});

Deno.test("batch(64) followed by take(2) over 100,000 synchronous examples stops the source early", async () => {
  let produced = 0;
  const source = new Observable<Example>((s) => {
    const image = new Uint8Array(4);
    for (let i = 0; i < 100000 && !s.closed; i++) {
      produced++;
      s.next({ image, label: 0, rows: 2, cols: 2 });
    }
    s.complete();
  });
  const out = await firstValueFrom(source.pipe(batch(64), take(2), toArray()));
  assert.equal(out.length, 2);
  assert.ok(produced <= 129, `the source produced ${produced} examples after take(2) had finished`);
});

Deno.test("batch of an empty stream completes with no batch", async () => {
  assert.deepEqual(await firstValueFrom(from([] as Example[]).pipe(batch(64), toArray())), []);
});
