import assert from "node:assert/strict";
import { from } from "rxjs";
import { batch } from "../../pipelines/batch.ts";
import type { Example } from "../../pipelines/mnist.ts";
import { shuffle } from "../../pipelines/shuffle.ts";

const COUNT = 1_000_000;
const BUFFER = 1000;
const BATCH = 64;

Deno.test("10^6 lazily generated 1x1 examples through shuffle(1000), batch(64) and a slow consumer: at most 1064 in flight, heap flat", async () => {
  let produced = 0;
  function* generate(): Generator<Example> {
    for (let i = 0; i < COUNT; i++) {
      produced++;
      yield { image: Uint8Array.of(i % 256), label: i % 10, rows: 1, cols: 1 };
    }
  }

  const heapAtStart = Deno.memoryUsage().heapUsed;
  let consumed = 0, maxInFlight = 0, maxHeap = heapAtStart, sink = 0;
  await new Promise<void>((resolve, reject) =>
    from(generate()).pipe(shuffle({ bufferSize: BUFFER, seed: 1 }), batch(BATCH)).subscribe({
      next(b) {
        // examples produced but not yet handed to the consumer
        maxInFlight = Math.max(maxInFlight, produced - consumed * BATCH);
        // a slow synchronous consumer: a small busy loop per batch
        for (let k = 0; k < 2000; k++) sink += Math.sqrt(k + b.x.data[0]!);
        consumed++;
        if (consumed % 1000 === 0) maxHeap = Math.max(maxHeap, Deno.memoryUsage().heapUsed);
      },
      error: reject,
      complete: resolve,
    })
  );
  const heapAtEnd = Deno.memoryUsage().heapUsed;

  assert.ok(sink > 0);
  assert.equal(produced, COUNT);
  assert.equal(consumed, Math.ceil(COUNT / BATCH)); // 15,625 batches
  assert.ok(
    maxInFlight <= BUFFER + BATCH,
    `${maxInFlight} examples were in flight, more than bufferSize + batch = ${BUFFER + BATCH}`,
  );
  // the buffer fills before the first batch: the bound is reached, so the count is honest
  assert.equal(maxInFlight, BUFFER + BATCH);
  // 10^6 retained examples take ~290 MB (measured with bufferSize 10^6); bounded, the heap ends
  // ~4 MB above the start (young-generation garbage) and peaks ~15 MB above it
  const MB = 1 << 20;
  assert.ok(
    heapAtEnd - heapAtStart < 16 * MB,
    `heap grew by ${((heapAtEnd - heapAtStart) / MB).toFixed(1)} MB over the run`,
  );
  assert.ok(
    maxHeap - heapAtStart < 64 * MB,
    `heap peaked ${((maxHeap - heapAtStart) / MB).toFixed(1)} MB above the start`,
  );
});
