import assert from "node:assert/strict";
import {
  DEFAULT_IDX_MAX_BYTES,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  type IdxArray,
  IdxFormatError,
  IdxParser,
  parseIdx,
} from "../../pipelines/idx.ts";

/** An IDX file: magic, big-endian dims, data. */
function idxBytes(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pixels(n: number, seed = 1): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/** 3 images of 28x28: 2352 bytes of data after a 16-byte header. */
const THREE_IMAGES = pixels(3 * 28 * 28);
const THREE_IMAGES_FILE = idxBytes(IDX_IMAGES_MAGIC, [3, 28, 28], THREE_IMAGES);

function parseInChunks(bytes: Uint8Array, sizes: () => number): IdxArray {
  const parser = new IdxParser("chunked");
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(bytes.length, i + sizes());
    parser.push(bytes.subarray(i, end));
    i = end;
  }
  return parser.finish();
}

Deno.test("parseIdx reads magic, dims and data of 3 images of 28x28", () => {
  const got = parseIdx(THREE_IMAGES_FILE, "images");
  assert.deepStrictEqual(got, { magic: 2051, dims: [3, 28, 28], data: THREE_IMAGES });
});

Deno.test("parseIdx reads a labels file of 5 labels", () => {
  const labels = new Uint8Array([5, 0, 4, 1, 9]);
  const got = parseIdx(idxBytes(IDX_LABELS_MAGIC, [5], labels), "labels");
  assert.deepStrictEqual(got, { magic: 2049, dims: [5], data: labels });
});

Deno.test("parseIdx reads a file that declares 0 images", () => {
  const got = parseIdx(idxBytes(IDX_IMAGES_MAGIC, [0, 28, 28], new Uint8Array(0)), "empty");
  assert.deepStrictEqual(got.dims, [0, 28, 28]);
  assert.equal(got.data.length, 0);
});

Deno.test("IdxParser gives the same result for 1-byte, 7-byte and random-size chunks", () => {
  const whole = parseIdx(THREE_IMAGES_FILE, "whole");
  assert.deepStrictEqual(parseInChunks(THREE_IMAGES_FILE, () => 1), whole);
  assert.deepStrictEqual(parseInChunks(THREE_IMAGES_FILE, () => 7), whole);
  for (let seed = 1; seed <= 20; seed++) {
    const r = rng(seed);
    assert.deepStrictEqual(parseInChunks(THREE_IMAGES_FILE, () => 1 + Math.floor(r() * 40)), whole);
  }
});

Deno.test("IdxParser copies pushed chunks, so the caller may reuse its buffer", () => {
  const parser = new IdxParser("reuse");
  const buf = new Uint8Array(1);
  for (const byte of idxBytes(IDX_LABELS_MAGIC, [2], new Uint8Array([3, 4]))) {
    buf[0] = byte;
    parser.push(buf);
  }
  assert.deepStrictEqual(parser.finish().data, new Uint8Array([3, 4]));
});

Deno.test("parseIdx rejects a truncated images file of 3 images with 1000 bytes missing", () => {
  const cut = THREE_IMAGES_FILE.subarray(0, THREE_IMAGES_FILE.length - 1000);
  assert.throws(
    () => parseIdx(cut, "t.idx"),
    (e: unknown) =>
      e instanceof IdxFormatError && e.file === "t.idx" &&
      e.message === "t.idx: truncated data: expected 2352 bytes of data, found 1352",
  );
});

Deno.test("parseIdx rejects a rank-3 header cut after 10 of its 16 bytes", () => {
  assert.throws(
    () => parseIdx(THREE_IMAGES_FILE.subarray(0, 10), "h.idx"),
    /^IdxFormatError: h\.idx: truncated header: expected 16 header bytes, found 10$/,
  );
});

Deno.test("parseIdx rejects a file of 2 bytes, shorter than the 4-byte magic", () => {
  assert.throws(
    () => parseIdx(new Uint8Array([0, 0]), "tiny"),
    /tiny: truncated header: expected at least 4 header bytes, found 2/,
  );
  assert.throws(() => parseIdx(new Uint8Array(0), "empty"), /found 0/);
});

Deno.test("IdxParser.push rejects 5 trailing bytes after the declared data", () => {
  const parser = new IdxParser("trail");
  parser.push(THREE_IMAGES_FILE);
  assert.throws(
    () => parser.push(new Uint8Array(5)),
    /trail: expected 2352 bytes of data after the 16-byte header, found 5 or more trailing bytes/,
  );
  const withTail = new Uint8Array(THREE_IMAGES_FILE.length + 1);
  withTail.set(THREE_IMAGES_FILE);
  assert.throws(() => parseIdx(withTail, "trail1"), /found 1 or more trailing bytes/);
});

Deno.test("IdxParser refuses a labels magic where images are expected, from the magic alone", () => {
  const parser = new IdxParser("train-images-idx3-ubyte.gz", {
    expect: { magic: IDX_IMAGES_MAGIC, description: "images" },
  });
  // Only the 4 magic bytes: the error must come before any dimension or data arrives.
  assert.throws(
    () => parser.push(new Uint8Array([0, 0, 8, 1])),
    (e: unknown) =>
      e instanceof IdxFormatError &&
      e.message === "train-images-idx3-ubyte.gz: expected IDX magic 2051 (images), " +
          "found 2049 (unsigned byte, rank 1)",
  );
});

Deno.test("parseIdx refuses an images magic where labels are expected", () => {
  assert.throws(
    () =>
      parseIdx(THREE_IMAGES_FILE, "labels", {
        expect: { magic: IDX_LABELS_MAGIC, description: "labels" },
      }),
    /labels: expected IDX magic 2049 \(labels\), found 2051 \(unsigned byte, rank 3\)/,
  );
});

Deno.test("parseIdx rejects type byte 0x0d (float32): only unsigned bytes are supported", () => {
  const floats = idxBytes(0x00000d01, [1], new Uint8Array(4));
  assert.throws(
    () => parseIdx(floats, "f.idx"),
    /f\.idx: expected IDX type byte 0x08 \(unsigned byte\), found 0x0d \(float32\)/,
  );
});

Deno.test("parseIdx rejects ranks 0 and 5", () => {
  assert.throws(
    () => parseIdx(new Uint8Array([0, 0, 8, 0]), "r0"),
    /expected IDX rank 1 to 4, found 0/,
  );
  const rank5 = idxBytes(0x00000805, [1, 1, 1, 1, 1], new Uint8Array(1));
  assert.throws(() => parseIdx(rank5, "r5"), /expected IDX rank 1 to 4, found 5/);
});

Deno.test("parseIdx rejects a magic not starting with two zero bytes, and says when it is gzip", () => {
  assert.throws(
    () => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0]), "x.gz"),
    /x\.gz: expected an IDX magic starting with bytes 0x00 0x00, found 0x1f 0x8b \(this is gzip data\)/,
  );
  assert.throws(
    () => parseIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0]), "one"),
    /found 0x01 0x00$/,
  );
});

Deno.test("IdxParser refuses dims 4294967295 x 4294967295 x 4294967295 fast, before allocating", () => {
  const parser = new IdxParser("huge");
  const header = idxBytes(
    IDX_IMAGES_MAGIC,
    [0xffffffff, 0xffffffff, 0xffffffff],
    new Uint8Array(0),
  );
  const start = performance.now();
  assert.throws(
    () => parser.push(header),
    /huge: declared dimensions 4294967295 x 4294967295 x 4294967295 need 7\.9\d*e\+28 bytes, more than the limit of 1073741824 bytes/,
  );
  // Allocating (or even trying to) would take far longer, or throw a RangeError instead.
  assert.ok(performance.now() - start < 100, "refusal should not allocate");
});

Deno.test("IdxParser refuses a declared size one byte over the default 1 GiB limit", () => {
  const header = idxBytes(IDX_LABELS_MAGIC, [DEFAULT_IDX_MAX_BYTES + 1], new Uint8Array(0));
  assert.throws(
    () => new IdxParser("big").push(header),
    /need 1073741825 bytes, more than the limit/,
  );
});

Deno.test("IdxParser maxBytes: a size at the limit is accepted, one byte more is refused", () => {
  const labels = idxBytes(IDX_LABELS_MAGIC, [4], new Uint8Array([1, 2, 3, 4]));
  assert.deepStrictEqual(parseIdx(labels, "ok", { maxBytes: 4 }).dims, [4]);
  assert.throws(
    () => parseIdx(labels, "no", { maxBytes: 3 }),
    /need 4 bytes, more than the limit of 3/,
  );
});

Deno.test("IdxParser throws a plain Error on push after finish and on a second finish", () => {
  const parser = new IdxParser("p");
  parser.push(idxBytes(IDX_LABELS_MAGIC, [1], new Uint8Array([7])));
  parser.finish();
  assert.throws(() => parser.push(new Uint8Array(1)), /push called after finish/);
  assert.throws(() => parser.finish(), /finish called twice/);
});

Deno.test("IdxFormatError carries the file and the detail, and is an Error", () => {
  const e = new IdxFormatError("a/b.idx", "something", { cause: 42 });
  assert.ok(e instanceof Error);
  assert.equal(e.name, "IdxFormatError");
  assert.equal(e.file, "a/b.idx");
  assert.equal(e.detail, "something");
  assert.equal(e.message, "a/b.idx: something");
  assert.equal(e.cause, 42);
});
