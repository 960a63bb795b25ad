import assert from "node:assert/strict";
import { from, lastValueFrom, Subject, take, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { Random } from "../../engine/random.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import {
  type BatchInfo,
  microBatch,
  predictBatch,
  type Prediction,
  predictStream,
} from "../../pipelines/predict_stream.ts";
import { Sequential } from "../../pipelines/sequential.ts";
import { randomArray } from "../_helpers.ts";

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

/** A small CNN on 28x28x1 images (fast on the TypeScript backend). */
function smallCnn(): Sequential {
  const model = new Sequential({ seed: 1 });
  model.add(new Conv2D({ filters: 4, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}

function image(seed: number): Float32Array {
  return randomArray(new Random(seed), 784, 0, 1);
}

/** model.predict of one image, row by row, as plain numbers. */
function expected(model: Sequential, pixels: Float32Array): number[] {
  return Array.from(model.predict({ shape: [1, 28, 28, 1], data: pixels }).data);
}

Deno.test("microBatch closes a batch when it is full: abcdefg at maxBatch 3 gives [abc] [def] [g] (g on completion)", () => {
  testScheduler().run(({ cold, expectObservable }) => {
    const source = cold("abcdefg|");
    expectObservable(source.pipe(microBatch(5, 3))).toBe("--x--y-(z|)", {
      x: ["a", "b", "c"],
      y: ["d", "e", "f"],
      z: ["g"],
    });
  });
});

Deno.test("microBatch closes a batch when its oldest value has waited maxDelayMs=5 (timer from the first arrival, none while idle)", () => {
  testScheduler().run(({ cold, expectObservable }) => {
    // a@0 b@1 | c@10 | d@30 e@33 f@34 | complete@45
    const source = cold("ab 8ms c 19ms d 2ms ef 10ms |");
    expectObservable(source.pipe(microBatch(5, 10))).toBe("5ms x 9ms y 19ms z 9ms |", {
      x: ["a", "b"],
      y: ["c"],
      z: ["d", "e", "f"],
    });
  });
});

Deno.test("microBatch: an error drops the open batch, and unsubscribing cancels its timer", () => {
  testScheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold("ab#").pipe(microBatch(5, 10))).toBe("--#");
    expectObservable(cold("ab 10ms c").pipe(microBatch(5, 10)), "^ 3ms !").toBe("");
  });
});

Deno.test("microBatch refuses maxBatch=0 and a negative maxDelayMs", () => {
  assert.throws(() => microBatch(2, 0), /maxBatch must be a positive integer: current value is 0/);
  assert.throws(() => microBatch(-1, 4), /maxDelayMs must be a finite number >= 0/);
});

Deno.test("predictStream batches by size and by time in virtual time (maxBatch 4, 2 ms: batches of 4, 2, 1, 3), one prediction per image in order, equal to model.predict", () => {
  const model = smallCnn();
  const images = Array.from({ length: 10 }, (_, i) => ({ id: `img${i}`, pixels: image(i) }));
  const want = images.map((im) => expected(model, im.pixels));
  const scheduler = testScheduler();
  scheduler.run(({ cold, flush }) => {
    const values = Object.fromEntries(images.map((im, i) => [String.fromCharCode(97 + i), im]));
    const batches: BatchInfo[] = [];
    // a-d at once fill a batch; e@6 f@7 wait for e's 2 ms timer; g@18 alone; h-j flushed at the end
    const source = cold("(abcd) ef 10ms g 10ms (hij)|", values);
    const out: Prediction[] = [];
    source.pipe(
      predictStream(model, {
        maxBatch: 4,
        maxDelayMs: 2,
        scheduler,
        onBatch: (b) => batches.push(b),
      }),
    )
      .subscribe((p) => out.push(p));
    flush();
    assert.deepEqual(batches.map((b) => b.size), [4, 2, 1, 3]);
    assert.deepEqual(out.map((p) => p.id), images.map((im) => im.id));
    out.forEach((p, i) => {
      assert.deepEqual(p.probabilities, want[i]);
      assert.equal(p.label, want[i]!.indexOf(Math.max(...want[i]!)));
    });
  });
});

Deno.test("predictStream on bare Float32Arrays emits predictions without an id", async () => {
  const model = smallCnn();
  const out = await lastValueFrom(from([image(1), image(2)]).pipe(predictStream(model), toArray()));
  assert.equal(out.length, 2);
  assert.ok(!("id" in out[0]!));
  assert.deepEqual(out[1]!.probabilities, expected(model, image(2)));
  const sum = out[0]!.probabilities.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `softmax sums to ${sum}`);
});

Deno.test("predictStream keeps memory bounded on an endless stream: take(1000) of an infinite source, batches never above maxBatch=32", async () => {
  const model = new Sequential({ seed: 3 });
  model.add(new Dense({ units: 10, activation: "softmax", inputShape: [784] }));
  const pixels = image(5);
  let produced = 0;
  function* endless() {
    for (;;) {
      produced++;
      yield pixels;
    }
  }
  const sizes: number[] = [];
  const out = await lastValueFrom(
    from(endless()).pipe(
      predictStream(model, { maxBatch: 32, onBatch: (b) => sizes.push(b.size) }),
      take(1000),
      toArray(),
    ),
  );
  assert.equal(out.length, 1000);
  // the source stopped one image after the last needed batch (32 x 32 = 1024) was full
  assert.equal(produced, 1025);
  assert.ok(sizes.every((s) => s === 32), `batch sizes ${sizes}`);
});

Deno.test("predictStream over a Subject: a lone image is answered after maxDelayMs of real time", async () => {
  const model = smallCnn();
  const subject = new Subject<Float32Array>();
  const got = new Promise<Prediction>((resolve) =>
    subject.pipe(predictStream(model, { maxBatch: 64, maxDelayMs: 5 })).subscribe(resolve)
  );
  const t0 = performance.now();
  subject.next(image(7));
  const p = await got;
  assert.ok(performance.now() - t0 >= 4, "answered before the batch timer");
  assert.deepEqual(p.probabilities, expected(model, image(7)));
  subject.complete();
});

Deno.test("predictStream errors the stream with a TypeError naming an image of the wrong size", async () => {
  const model = smallCnn();
  const error = await lastValueFrom(
    from([{ id: "short", pixels: new Float32Array(783) }]).pipe(predictStream(model)),
  ).then(() => null, (e) => e);
  assert.ok(error instanceof TypeError);
  assert.match(
    error.message,
    /image short: expected 784 pixel values \(shape \[28,28,1\]\), received 783/,
  );
});

Deno.test("predictBatch of 3 images equals model.predict of the same rows bitwise", () => {
  const model = smallCnn();
  const x = new Float32Array(3 * 784);
  [image(1), image(2), image(3)].forEach((im, i) => x.set(im, i * 784));
  const want = model.predict({ shape: [3, 28, 28, 1], data: x }).data;
  const got = predictBatch(model, [image(1), image(2), image(3)]);
  assert.deepEqual(got.flatMap((p) => p.probabilities), Array.from(want));
});
