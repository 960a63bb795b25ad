import assert from "node:assert/strict";
import { firstValueFrom, type Observable, take, tap, toArray } from "rxjs";
import { Random } from "../../engine/random.ts";
import { type Tensor, tensor } from "../../engine/tensor.ts";
import type { Batch } from "../../layers/step.ts";
import { fromTensors } from "../../pipelines/from_tensors.ts";

/** x [rows, 2, 2, 1] with x[r] = 4r .. 4r+3, y [rows, 1] with y[r] = r. */
function rowsOf(rows: number): [Tensor, Tensor] {
  const x = tensor([rows, 2, 2, 1], Float32Array.from({ length: rows * 4 }, (_, i) => i));
  const y = tensor([rows, 1], Float32Array.from({ length: rows }, (_, i) => i));
  return [x, y];
}

interface Seen {
  sizes: number[];
  xShapes: number[][];
  yShapes: number[][];
  /** y of every row in emission order. */
  ids: number[];
}

/** Copies what each batch holds before the next one reuses the buffers. */
async function drain(source: Observable<Batch>): Promise<Seen> {
  const seen: Seen = { sizes: [], xShapes: [], yShapes: [], ids: [] };
  await new Promise<void>((resolve, reject) =>
    source.subscribe({
      next(b) {
        const n = b.x.shape[0]!;
        seen.sizes.push(n);
        seen.xShapes.push([...b.x.shape]);
        seen.yShapes.push([...b.y.shape]);
        for (let i = 0; i < n; i++) {
          const id = b.y.data[i]!;
          // the x row travels with its y row
          assert.deepEqual([...b.x.data.subarray(i * 4, i * 4 + 4)], [
            4 * id,
            4 * id + 1,
            4 * id + 2,
            4 * id + 3,
          ]);
          seen.ids.push(id);
        }
      },
      error: reject,
      complete: resolve,
    })
  );
  return seen;
}

const iota = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

Deno.test("fromTensors over 60,000 rows at batchSize 64 gives 938 batches, the last of 32", async () => {
  const x = tensor([60000, 1]);
  const y = tensor([60000, 1]);
  const sizes = await firstValueFrom(
    fromTensors(x, y, { batchSize: 64 }).pipe(toArray()),
  ).then((bs) => bs.map((b) => b.x.shape[0]!));
  assert.equal(sizes.length, 938);
  assert.ok(sizes.slice(0, 937).every((n) => n === 64));
  assert.equal(sizes[937], 32);
});

Deno.test("fromTensors over 10 rows at batchSize 4 gives [4, 4, 2] in row order with shapes [n, 2, 2, 1] and [n, 1]", async () => {
  const [x, y] = rowsOf(10);
  const seen = await drain(fromTensors(x, y, { batchSize: 4 }));
  assert.deepEqual(seen.sizes, [4, 4, 2]);
  assert.deepEqual(seen.xShapes, [[4, 2, 2, 1], [4, 2, 2, 1], [2, 2, 2, 1]]);
  assert.deepEqual(seen.yShapes, [[4, 1], [4, 1], [2, 1]]);
  assert.deepEqual(seen.ids, iota(0, 10));
});

Deno.test("fromTensors over 8 rows at batchSize 4 gives exactly [4, 4]; at batchSize 100 one batch of 8", async () => {
  const [x, y] = rowsOf(8);
  assert.deepEqual((await drain(fromTensors(x, y, { batchSize: 4 }))).sizes, [4, 4]);
  assert.deepEqual((await drain(fromTensors(x, y, { batchSize: 100 }))).sizes, [8]);
});

Deno.test("fromTensors rows [3, 9) of 10 at batchSize 4 emits rows 3..8 as [4, 2]", async () => {
  const [x, y] = rowsOf(10);
  const seen = await drain(fromTensors(x, y, { batchSize: 4, start: 3, end: 9 }));
  assert.deepEqual(seen.sizes, [4, 2]);
  assert.deepEqual(seen.ids, iota(3, 9));
  const tail = await drain(fromTensors(x, y, { batchSize: 4, start: 7 }));
  assert.deepEqual(tail.ids, [7, 8, 9]);
  const head = await drain(fromTensors(x, y, { batchSize: 4, end: 2 }));
  assert.deepEqual(head.ids, [0, 1]);
});

Deno.test("fromTensors shuffled rows [2, 8) of 10 stay within [2, 8) and differ per subscription", async () => {
  const [x, y] = rowsOf(10);
  const source = fromTensors(x, y, {
    batchSize: 4,
    shuffle: true,
    random: new Random(4),
    start: 2,
    end: 8,
  });
  const e1 = await drain(source);
  const e2 = await drain(source);
  const e3 = await drain(source);
  for (const e of [e1, e2, e3]) {
    assert.deepEqual(e.sizes, [4, 2]);
    assert.deepEqual(e.ids.slice().sort((a, b) => a - b), iota(2, 8));
  }
  assert.ok(
    e1.ids.join() !== e2.ids.join() || e2.ids.join() !== e3.ids.join(),
    "three epochs all gave the same order",
  );
});

Deno.test("fromTensors shuffle over 100 rows is reproducible from Random(9) and not the identity", async () => {
  const [x, y] = rowsOf(100);
  const a = await drain(fromTensors(x, y, { batchSize: 32, shuffle: true, random: new Random(9) }));
  const b = await drain(fromTensors(x, y, { batchSize: 32, shuffle: true, random: new Random(9) }));
  assert.deepEqual(a.ids, b.ids);
  assert.notDeepEqual(a.ids, iota(0, 100));
  assert.deepEqual(a.sizes, [32, 32, 32, 4]);
});

Deno.test("fromTensors with shuffle: true and no random sends a TypeError downstream", async () => {
  const [x, y] = rowsOf(4);
  const err = await firstValueFrom(
    fromTensors(x, y, { batchSize: 2, shuffle: true }).pipe(toArray()),
  )
    .then(() => null, (e) => e);
  assert.ok(err instanceof TypeError, String(err));
  assert.match((err as Error).message, /random/);
});

Deno.test("fromTensors refuses x [10, 2] with y [9, 1] (TypeError) and batchSize 0 (RangeError)", () => {
  assert.throws(
    () => fromTensors(tensor([10, 2]), tensor([9, 1]), { batchSize: 4 }),
    (e: unknown) =>
      e instanceof TypeError && e.message.includes("[10,2]") && e.message.includes("[9,1]"),
  );
  for (const batchSize of [0, -3, 2.5]) {
    assert.throws(
      () => fromTensors(tensor([10, 2]), tensor([10, 1]), { batchSize }),
      (e: unknown) => e instanceof RangeError && e.message.includes(String(batchSize)),
    );
  }
});

Deno.test("fromTensors over 0 rows completes with no batch", async () => {
  const [x, y] = rowsOf(0);
  assert.deepEqual((await drain(fromTensors(x, y, { batchSize: 4 }))).sizes, []);
});

Deno.test("fromTensors over 1000 rows at batchSize 10 followed by take(3) emits only 3 batches", async () => {
  const [x, y] = rowsOf(1000);
  let emitted = 0;
  const out = await firstValueFrom(
    fromTensors(x, y, { batchSize: 10 }).pipe(tap(() => emitted++), take(3), toArray()),
  );
  assert.equal(out.length, 3);
  assert.equal(emitted, 3);
});
