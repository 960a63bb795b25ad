import assert from "node:assert/strict";
import { firstValueFrom, from, Observable, range, Subject, take, throwError, toArray } from "rxjs";
import { Random } from "../../engine/random.ts";
import { shuffle } from "../../pipelines/shuffle.ts";

function collect<T>(source: Observable<T>): Promise<T[]> {
  return firstValueFrom(source.pipe(toArray()));
}

const sorted = (a: number[]) => a.slice().sort((x, y) => x - y);
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("shuffle of 0..999 with bufferSize 65536 is a permutation, not the identity", async () => {
  const out = await collect(range(0, 1000).pipe(shuffle({ seed: 3 })));
  assert.equal(out.length, 1000);
  assert.deepEqual(sorted(out), iota(1000));
  assert.notDeepEqual(out, iota(1000));
});

Deno.test("shuffle of 0..999 with bufferSize 10 is a permutation, not the identity", async () => {
  const out = await collect(range(0, 1000).pipe(shuffle({ seed: 3, bufferSize: 10 })));
  assert.deepEqual(sorted(out), iota(1000));
  assert.notDeepEqual(out, iota(1000));
});

Deno.test("shuffle of 0..99 with seed 7 gives the same order twice, seed 8 another", async () => {
  const a = await collect(range(0, 100).pipe(shuffle({ seed: 7, bufferSize: 16 })));
  const b = await collect(range(0, 100).pipe(shuffle({ seed: 7, bufferSize: 16 })));
  const c = await collect(range(0, 100).pipe(shuffle({ seed: 8, bufferSize: 16 })));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("shuffle with random: new Random(5) equals shuffle with seed 5 over 0..99", async () => {
  const a = await collect(range(0, 100).pipe(shuffle({ random: new Random(5) })));
  const b = await collect(range(0, 100).pipe(shuffle({ seed: 5 })));
  assert.deepEqual(a, b);
});

Deno.test("one shuffle operator subscribed twice (two epochs of 0..99) gives two orders, reproducible", async () => {
  const epochs = () => {
    const op = shuffle<number>({ seed: 11 });
    const source = range(0, 100).pipe(op);
    return Promise.all([collect(source), collect(source)]);
  };
  const [e1, e2] = await epochs();
  assert.deepEqual(sorted(e1), iota(100));
  assert.deepEqual(sorted(e2), iota(100));
  assert.notDeepEqual(e1, e2);
  // the whole run is reproducible from the seed
  assert.deepEqual(await epochs(), [e1, e2]);
});

Deno.test("shuffle bufferSize 10 over 1000 values holds at most 10 (received - emitted) at any time", async () => {
  let received = 0, emitted = 0, maxHeld = 0;
  const source = new Observable<number>((s) => {
    for (let i = 0; i < 1000 && !s.closed; i++) {
      received++;
      s.next(i);
      maxHeld = Math.max(maxHeld, received - emitted);
    }
    s.complete();
  });
  const out: number[] = [];
  await new Promise<void>((resolve, reject) =>
    source.pipe(shuffle({ seed: 1, bufferSize: 10 })).subscribe({
      next(v) {
        emitted++;
        out.push(v);
        maxHeld = Math.max(maxHeld, received - emitted);
      },
      error: reject,
      complete: resolve,
    })
  );
  assert.equal(received, 1000);
  assert.equal(emitted, 1000);
  assert.equal(maxHeld, 10);
  // a value can only move backwards by the buffer's reach: the first 10 outputs precede value 20
  for (const v of out.slice(0, 10)) assert.ok(v < 20, `early output ${v} came from too far ahead`);
});

Deno.test("shuffle passes an error downstream after 3 values with bufferSize 2 (1 emitted, then the error)", async () => {
  const boom = new Error("boom");
  const source = new Observable<number>((s) => {
    s.next(0);
    s.next(1);
    s.next(2);
    s.error(boom);
  });
  const seen: number[] = [];
  const err = await new Promise<unknown>((resolve) =>
    source.pipe(shuffle({ seed: 0, bufferSize: 2 })).subscribe({
      next: (v) => seen.push(v),
      error: resolve,
      complete: () => resolve(null),
    })
  );
  assert.equal(err, boom);
  assert.equal(seen.length, 1);
  const err2 = await collect(throwError(() => boom).pipe(shuffle())).catch((e) => e);
  assert.equal(err2, boom);
});

Deno.test("shuffle unsubscribed after 5 of 20 pushed values releases its source subscription", () => {
  const subject = new Subject<number>();
  const seen: number[] = [];
  const sub = subject.pipe(shuffle({ seed: 2, bufferSize: 4 })).subscribe((v) => seen.push(v));
  assert.equal(subject.observed, true);
  for (let i = 0; i < 9; i++) subject.next(i);
  assert.equal(seen.length, 5);
  sub.unsubscribe();
  assert.equal(subject.observed, false);
  for (let i = 9; i < 20; i++) subject.next(i);
  subject.complete();
  assert.equal(seen.length, 5);
});

Deno.test("shuffle followed by take(5) over a synchronous source of 100000 stops the source early", async () => {
  let produced = 0;
  const source = new Observable<number>((s) => {
    for (let i = 0; i < 100000 && !s.closed; i++) {
      produced++;
      s.next(i);
    }
    s.complete();
  });
  const out = await collect(source.pipe(shuffle({ seed: 0, bufferSize: 10 }), take(5)));
  assert.equal(out.length, 5);
  // 10 to fill the buffer, 5 emitted, and at most one more before the stop is seen
  assert.ok(produced <= 16, `the source produced ${produced} values after take(5) had finished`);
});

Deno.test("shuffle refuses bufferSize 0, -1 and 2.5 with a RangeError naming the value", () => {
  for (const bufferSize of [0, -1, 2.5]) {
    assert.throws(
      () => shuffle({ bufferSize }),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes("bufferSize") &&
        e.message.includes(String(bufferSize)),
    );
  }
});

Deno.test("shuffle of an empty stream completes with no values", async () => {
  assert.deepEqual(await collect(from([] as number[]).pipe(shuffle({ seed: 1 }))), []);
});
