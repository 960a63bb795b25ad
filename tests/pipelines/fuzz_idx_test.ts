// Fuzzing the IDX and gzip readers: 10,000 mutated inputs each (bit flips, truncations, huge
// declared sizes, wrong magic, inserted and appended bytes). The only allowed outcomes are
// success or the documented IdxFormatError (GzipFormatError is a subclass); never another
// exception, a hang, or memory the input's size cannot justify.

import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "fflate";
import { Random } from "../../engine/random.ts";
import { readMaybeGzipped } from "../../pipelines/gunzip.ts";
import { IdxFormatError, IdxParser, parseIdx } from "../../pipelines/idx.ts";

const CASES = 10_000;

function idxImages(count: number, rows: number, cols: number, r: Random): Uint8Array {
  const out = new Uint8Array(16 + count * rows * cols);
  const v = new DataView(out.buffer);
  v.setUint32(0, 2051);
  v.setUint32(4, count);
  v.setUint32(8, rows);
  v.setUint32(12, cols);
  for (let i = 16; i < out.length; i++) out[i] = r.int(256);
  return out;
}

/** One random mutation of `base`. */
function mutate(base: Uint8Array, r: Random): Uint8Array {
  const kind = r.int(7);
  const b = base.slice();
  switch (kind) {
    case 0: { // bit flips
      const n = 1 + r.int(8);
      for (let i = 0; i < n; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case 1: // truncation
      return b.subarray(0, r.int(b.length));
    case 2: { // huge declared dimension
      const v = new DataView(b.buffer);
      const at = 4 + 4 * r.int(3);
      if (at + 4 <= b.length) v.setUint32(at, 0x7fffffff + r.int(0x7fffffff));
      return b;
    }
    case 3: // wrong magic / type / rank
      b[r.int(4)] = r.int(256);
      return b;
    case 4: { // inserted bytes
      const at = r.int(b.length);
      const extra = new Uint8Array(1 + r.int(16)).map(() => r.int(256));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, at));
      out.set(extra, at);
      out.set(b.subarray(at), at + extra.length);
      return out;
    }
    case 5: { // appended garbage
      const out = new Uint8Array(b.length + 1 + r.int(64));
      out.set(b);
      for (let i = b.length; i < out.length; i++) out[i] = r.int(256);
      return out;
    }
    default: { // random bytes overwritten in a run
      const at = r.int(b.length);
      const len = Math.min(b.length - at, 1 + r.int(32));
      for (let i = 0; i < len; i++) b[at + i] = r.int(256);
      return b;
    }
  }
}

/**
 * This isolate's memory: V8 heap plus ArrayBuffers. (RSS would count the other test modules that
 * `deno test --parallel` runs in the same process.)
 */
function memory(): number {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

function allowed(e: unknown): boolean {
  return e instanceof IdxFormatError;
}

Deno.test(`parseIdx and chunked IdxParser survive ${CASES} mutated IDX files`, () => {
  const r = new Random(2024);
  const base = idxImages(3, 28, 28, r);
  const before = memory();
  let peak = before;
  let ok = 0, refused = 0;
  for (let c = 0; c < CASES; c++) {
    const input = mutate(base, r);
    const t0 = performance.now();
    try {
      if (c % 2 === 0) parseIdx(input, "fuzz.idx");
      else {
        const parser = new IdxParser("fuzz.idx");
        for (let at = 0; at < input.length;) {
          const n = 1 + r.int(700);
          parser.push(input.subarray(at, at + n));
          at += n;
        }
        parser.finish();
      }
      ok++;
    } catch (e) {
      assert.ok(allowed(e), `case ${c}: unexpected ${e}`);
      assert.match((e as Error).message, /^fuzz\.idx: /);
      refused++;
    }
    assert.ok(performance.now() - t0 < 250, `case ${c} took too long`);
    if (c % 100 === 0) peak = Math.max(peak, memory());
  }
  assert.ok(ok > 0 && refused > CASES / 2, `ok ${ok}, refused ${refused}`);
  // a header declaring gigabytes must not allocate them: memory grows with the bytes received
  assert.ok(peak - before < 200 * 1024 * 1024, `memory grew by ${(peak - before) >> 20} MiB`);
});

Deno.test(`readMaybeGzipped + IdxParser survive ${CASES} mutated gzip files`, async () => {
  const r = new Random(7);
  const dir = await Deno.makeTempDir();
  const base = gzipSync(idxImages(2, 28, 28, r));
  const before = memory();
  let peak = before;
  let ok = 0, refused = 0;
  for (let c = 0; c < CASES; c++) {
    // mutate the compressed bytes, and sometimes the header magic of the content before zipping
    const input = c % 5 === 4 ? gzipSync(mutate(idxImages(2, 28, 28, r), r)) : mutate(base, r);
    const path = join(dir, `case.gz`);
    await Deno.writeFile(path, input);
    const t0 = performance.now();
    try {
      const parser = new IdxParser(path);
      await readMaybeGzipped(path, (chunk) => parser.push(chunk), { chunkBytes: 512 });
      parser.finish();
      ok++;
    } catch (e) {
      assert.ok(allowed(e), `case ${c}: unexpected ${(e as Error)?.stack ?? e}`);
      refused++;
    }
    assert.ok(performance.now() - t0 < 500, `case ${c} took too long`);
    if (c % 100 === 0) peak = Math.max(peak, memory());
  }
  assert.ok(ok > 0 && refused > CASES / 2, `ok ${ok}, refused ${refused}`);
  assert.ok(peak - before < 200 * 1024 * 1024, `memory grew by ${(peak - before) >> 20} MiB`);
  await Deno.remove(dir, { recursive: true });
});
