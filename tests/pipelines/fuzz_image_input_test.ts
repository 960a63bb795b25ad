// Fuzzing the image readers: 10,000 mutated inputs each for the PNG decoder, the PGM decoder and
// the JSON-lines reader (bit flips, truncations, huge declared sizes with and without a valid
// CRC, wrong magic, chunk lengths set huge, inserted, appended and overwritten bytes, mutated
// header numbers, mutated JSON text). The only allowed outcomes are an image, the documented
// PngFormatError / ImageFormatError (from decodePng / decodePgm), or an error item naming the
// input (from decodeImageBytes / readImageStream, which never throw); never another exception,
// a hang, or memory the input's size cannot justify.

import assert from "node:assert/strict";
import { encode } from "fast-png";
import { Random } from "../../engine/random.ts";
import { crc32 } from "../../pipelines/crc32.ts";
import {
  decodeImageBytes,
  decodePgm,
  ImageFormatError,
  type ImageItem,
  isImageError,
  readImageStream,
} from "../../pipelines/image_input.ts";
import { decodePng, PngFormatError } from "../../pipelines/png_decode.ts";

const CASES = 10_000;
/** Per-case time bound (ms): generous, the machine runs the other test files in parallel. */
const CASE_MS = 250;
/** Most one case may add to this isolate's memory (its inputs are a few KB at most). */
const MAX_CASE_JUMP = 32 * 1024 * 1024;
/** Most this isolate's memory may grow over a run of cases. */
const MAX_GROWTH = 200 * 1024 * 1024;

/**
 * This isolate's memory: V8 heap plus ArrayBuffers (which count an allocation even before its
 * pages are touched). RSS would count the other test modules that `deno test --parallel` runs in
 * the same process.
 */
function memory(): number {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

// ---------------------------------------------------------------------------------------------
// Generic byte mutations (as fuzz_idx_test.ts)

function pick<T>(r: Random, xs: readonly T[]): T {
  return xs[r.int(xs.length)]!;
}

function insertAt(b: Uint8Array, at: number, extra: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + extra.length);
  out.set(b.subarray(0, at));
  out.set(extra, at);
  out.set(b.subarray(at), at + extra.length);
  return out;
}

function randomBytes(r: Random, n: number): Uint8Array {
  return new Uint8Array(n).map(() => r.int(256));
}

/** One generic mutation: bit flips, truncation, insertion, appending or an overwritten run. */
function mutateBytes(base: Uint8Array, r: Random): Uint8Array {
  const b = base.slice();
  if (b.length === 0) return randomBytes(r, 1 + r.int(16));
  switch (r.int(5)) {
    case 0: { // bit flips
      const n = 1 + r.int(8);
      for (let i = 0; i < n; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case 1: // truncation
      return b.subarray(0, r.int(b.length));
    case 2: // inserted bytes
      return insertAt(b, r.int(b.length + 1), randomBytes(r, 1 + r.int(16)));
    case 3: { // appended garbage
      const out = new Uint8Array(b.length + 1 + r.int(64));
      out.set(b);
      out.set(randomBytes(r, out.length - b.length), b.length);
      return out;
    }
    default: { // an overwritten run
      const at = r.int(b.length);
      const len = Math.min(b.length - at, 1 + r.int(32));
      for (let i = 0; i < len; i++) b[at + i] = r.int(256);
      return b;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PNG

/** A digit-like test pattern: a bright ring on black, `w` x `h`, values in [0, max]. */
function ring(w: number, h: number, max: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - w / 2, y - h / 2) / (Math.min(w, h) / 3);
      out.push(Math.round(Math.max(0, 1 - Math.abs(d - 1) * 3) * max));
    }
  }
  return out;
}

function withChannels(gray: number[], channels: number, alpha: number): number[] {
  return gray.flatMap((v) =>
    channels === 1
      ? [v]
      : channels === 2
      ? [v, alpha]
      : channels === 3
      ? [v, v >> 1, v]
      : [v, v, v >> 1, alpha]
  );
}

/** Valid base PNGs of several kinds (fast-png's encoder). */
function basePngs(): { name: string; png: Uint8Array }[] {
  const g = ring(28, 28, 255);
  const palette: [number, number, number][] = Array.from(
    { length: 16 },
    (_, i) => [i * 17, i * 17, i * 17],
  );
  return [
    {
      name: "gray8",
      png: encode({ width: 28, height: 28, data: Uint8Array.from(g), channels: 1, depth: 8 }),
    },
    {
      name: "gray16",
      png: encode({
        width: 20,
        height: 24,
        data: Uint16Array.from(ring(20, 24, 65535)),
        channels: 1,
        depth: 16,
      }),
    },
    {
      name: "graya8",
      png: encode({
        width: 28,
        height: 28,
        data: Uint8Array.from(withChannels(g, 2, 200)),
        channels: 2,
        depth: 8,
      }),
    },
    {
      name: "rgb8",
      png: encode({
        width: 28,
        height: 28,
        data: Uint8Array.from(withChannels(g, 3, 255)),
        channels: 3,
        depth: 8,
      }),
    },
    {
      name: "rgba8",
      png: encode({
        width: 32,
        height: 30,
        data: Uint8Array.from(withChannels(ring(32, 30, 255), 4, 180)),
        channels: 4,
        depth: 8,
      }),
    },
    {
      name: "rgba16",
      png: encode({
        width: 16,
        height: 16,
        data: Uint16Array.from(withChannels(ring(16, 16, 65535), 4, 40000)),
        channels: 4,
        depth: 16,
      }),
    },
    {
      name: "palette",
      png: encode({
        width: 28,
        height: 28,
        data: Uint8Array.from(g, (v) => v >> 4),
        channels: 1,
        depth: 8,
        palette,
      }),
    },
    {
      name: "adam7",
      png: encode(
        { width: 28, height: 28, data: Uint8Array.from(g), channels: 1, depth: 8 },
        { interlace: "Adam7" },
      ),
    },
  ];
}

interface Chunk {
  at: number; // offset of the length field
  length: number;
  type: string;
}

/** The chunks of a well-formed PNG. */
function chunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  for (let at = 8; at + 12 <= png.length;) {
    const length = view.getUint32(at);
    out.push({ at, length, type: String.fromCharCode(...png.subarray(at + 4, at + 8)) });
    at += 12 + length;
  }
  return out;
}

/** Recomputes the CRC of the chunk whose length field is at `at` (if it fits). */
function fixCrc(b: Uint8Array, at: number): void {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (at + 8 > b.length) return;
  const length = view.getUint32(at);
  const end = at + 8 + length;
  if (end + 4 <= b.length) view.setUint32(end, crc32(b.subarray(at + 4, end)));
}

const HUGE_SIDES = [0, 1, 4096, 5000, 65535, 100_000, 0x7fffffff, 0x80000000, 0xffffffff];

/** One PNG-aware mutation, or a generic one. */
function mutatePng(base: Uint8Array, r: Random): { bytes: Uint8Array; kind: string } {
  const b = base.slice();
  const view = new DataView(b.buffer);
  const cs = chunks(base);
  switch (r.int(10)) {
    case 0: { // huge declared width/height, CRC recomputed so the size check itself is reached
      view.setUint32(16, r.int(2) === 0 ? pick(r, HUGE_SIDES) : r.nextUint32());
      view.setUint32(20, r.int(2) === 0 ? pick(r, HUGE_SIDES) : r.nextUint32());
      fixCrc(b, 8);
      return { bytes: b, kind: "huge dims (CRC fixed)" };
    }
    case 1: // the same without fixing the CRC
      view.setUint32(16 + 4 * r.int(2), pick(r, HUGE_SIDES));
      return { bytes: b, kind: "huge dims (bad CRC)" };
    case 2: { // other IHDR fields: depth, color type, compression, filter, interlace (CRC fixed)
      b[24 + r.int(5)] = r.int(3) === 0 ? r.int(256) : pick(r, [0, 1, 2, 3, 4, 6, 8, 16]);
      fixCrc(b, 8);
      return { bytes: b, kind: "IHDR field (CRC fixed)" };
    }
    case 3: // wrong magic
      b[r.int(8)]! ^= 1 << r.int(8);
      return { bytes: b, kind: "wrong magic" };
    case 4: { // a chunk's length field set huge or off by a little
      const c = pick(r, cs);
      view.setUint32(
        c.at,
        pick(r, [0x7fffffff, 0xffffffff, 0x10000000, c.length + 1, Math.max(0, c.length - 1)]),
      );
      return { bytes: b, kind: "chunk length" };
    }
    case 5: { // flipped bits inside IDAT with its CRC recomputed: reaches the inflater, unfilter
      const idats = cs.filter((c) => c.type === "IDAT" && c.length > 0);
      const c = pick(r, idats);
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) b[c.at + 8 + r.int(c.length)]! ^= 1 << r.int(8);
      fixCrc(b, c.at);
      return { bytes: b, kind: "IDAT bits (CRC fixed)" };
    }
    case 6: { // a chunk dropped, duplicated or cut short
      const c = pick(r, cs);
      const end = c.at + 12 + c.length;
      const op = r.int(3);
      if (op === 0) {
        const out = new Uint8Array(b.length - (end - c.at));
        out.set(b.subarray(0, c.at));
        out.set(b.subarray(end), c.at);
        return { bytes: out, kind: `drop ${c.type}` };
      }
      if (op === 1) return { bytes: insertAt(b, end, b.slice(c.at, end)), kind: `dup ${c.type}` };
      return { bytes: b.subarray(0, c.at + r.int(end - c.at)), kind: `cut ${c.type}` };
    }
    case 7: { // a random chunk inserted (valid CRC), e.g. tRNS / PLTE / unknown types
      const type = pick(r, ["tRNS", "PLTE", "IDAT", "iCCP", "tEXt", "pHYs", "IEND", "abCd"]);
      const data = randomBytes(r, r.int(40));
      const chunk = new Uint8Array(12 + data.length);
      const cv = new DataView(chunk.buffer);
      cv.setUint32(0, data.length);
      chunk.set([...type].map((ch) => ch.charCodeAt(0)), 4);
      chunk.set(data, 8);
      cv.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
      const where = pick(r, cs);
      return { bytes: insertAt(b, where.at, chunk), kind: `insert ${type}` };
    }
    default:
      return { bytes: mutateBytes(base, r), kind: "generic" };
  }
}

/** A decoded image must be sane: its size and values in [0, 1]. */
function checkGray(image: { width: number; height: number; data: Float32Array }, what: string) {
  assert.equal(image.data.length, image.width * image.height, what);
  for (const v of image.data) assert.ok(v >= 0 && v <= 1, `${what}: pixel ${v}`);
}

/** decodeImageBytes' items: 784 pixels in [0, 1], or an error naming the input. */
function checkItems(items: ImageItem[], name: string, what: string): number {
  let errors = 0;
  for (const item of items) {
    if (isImageError(item)) {
      // an unexpected exception would surface here as an error item without the name prefix
      assert.ok(item.error.startsWith(`${name}`), `${what}: unexpected error ${item.error}`);
      errors++;
    } else {
      assert.equal(item.pixels.length, 784, what);
      for (const v of item.pixels) assert.ok(v >= 0 && v <= 1, `${what}: pixel ${v}`);
    }
  }
  return errors;
}

Deno.test(`decodePng and decodeImageBytes survive ${CASES} mutated PNGs`, () => {
  const r = new Random(4242);
  const bases = basePngs();
  // every base decodes before mutation
  for (const { name, png } of bases) checkGray(decodePng(png, name), name);
  const before = memory();
  let peak = before;
  let ok = 0, refused = 0, slowest = 0, idatRefused = 0, largestJump = 0;
  const byKind = new Map<string, number>();
  for (let c = 0; c < CASES; c++) {
    const base = bases[c % bases.length]!;
    const { bytes, kind } = mutatePng(base.png, r);
    const what = `case ${c} (${base.name}, ${kind})`;
    const t0 = performance.now();
    const m0 = memory();
    if (c % 4 === 3) {
      const items = decodeImageBytes(bytes, "fuzz.png");
      assert.equal(items.length, 1, what);
      if (checkItems(items, "fuzz.png", what) > 0) refused++;
      else ok++;
    } else {
      try {
        checkGray(decodePng(bytes, "fuzz.png", { background: c % 2 }), what);
        ok++;
      } catch (e) {
        assert.ok(e instanceof PngFormatError, `${what}: unexpected ${(e as Error)?.stack ?? e}`);
        assert.match(e.message, /^fuzz\.png: /);
        refused++;
        if (/IDAT chunks hold/.test(e.message)) idatRefused++;
        const k = kind.split(" ")[0]!;
        byKind.set(k, (byKind.get(k) ?? 0) + 1);
      }
    }
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < CASE_MS, `${what} took ${ms.toFixed(0)} ms`);
    const m1 = memory();
    largestJump = Math.max(largestJump, m1 - m0);
    peak = Math.max(peak, m1);
  }
  const grown = peak - before;
  assert.ok(ok > 0 && refused > CASES / 2, `ok ${ok}, refused ${refused}`);
  assert.ok(grown < MAX_GROWTH, `memory grew by ${grown >> 20} MiB`);
  // inputs of a few hundred bytes: no case may allocate tens of megabytes (before the IDAT size
  // check, a 4096x4096 header made fast-png allocate 64 MiB and more)
  assert.ok(largestJump < MAX_CASE_JUMP, `a case allocated ${largestJump >> 20} MiB`);
  if (Deno.env.get("FUZZ_VERBOSE")) {
    console.log({
      ok,
      refused,
      idatRefused,
      slowest,
      peakGrowthMiB: grown >> 20,
      largestJumpMiB: largestJump >> 20,
      byKind,
    });
  }
});

Deno.test("decodePng refuses a PNG declaring 100000x100000 from its header, before decoding", () => {
  const png = basePngs()[0]!.png.slice();
  const view = new DataView(png.buffer);
  view.setUint32(16, 100_000);
  view.setUint32(20, 100_000);
  fixCrc(png, 8);
  const t0 = performance.now();
  assert.throws(
    () => decodePng(png, "huge.png"),
    (e: unknown) =>
      e instanceof PngFormatError &&
      /^huge\.png: expected a PNG of 1 to 16777216 pixels, found 100000x100000$/.test(e.message),
  );
  assert.ok(performance.now() - t0 < 50);
});

Deno.test("decodePng refuses a small PNG whose IDAT cannot hold the image its header declares", () => {
  // 4096x4096 RGBA at 16 bits is within the pixel limit but needs 128 MiB of image data: a file
  // of a few hundred bytes cannot inflate to that (deflate expands at most ~1032:1), so it is
  // refused before the decoder allocates the image
  const base = basePngs().find((b) => b.name === "rgba16")!.png.slice();
  const view = new DataView(base.buffer);
  view.setUint32(16, 4096);
  view.setUint32(20, 4096);
  fixCrc(base, 8);
  assert.throws(
    () => decodePng(base, "bomb.png"),
    (e: unknown) =>
      e instanceof PngFormatError &&
      /^bomb\.png: truncated PNG: 4096x4096 .* needs at least 134217728 bytes of image data, its IDAT chunks hold \d+ compressed bytes/
        .test(e.message),
  );
  // a genuinely large but highly compressible image still decodes
  const black = encode({
    width: 2048,
    height: 2048,
    data: new Uint8Array(2048 * 2048),
    channels: 1,
    depth: 8,
  });
  assert.ok(black.length < 2048 * 2048 / 100);
  const image = decodePng(black, "black.png");
  assert.equal(image.data.length, 2048 * 2048);
});

// ---------------------------------------------------------------------------------------------
// PGM

function pgm(header: string, raster: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(h.length + raster.length);
  out.set(h);
  out.set(raster, h.length);
  return out;
}

function basePgms(): { name: string; bytes: Uint8Array; numbers: [number, number, number] }[] {
  const g = Uint8Array.from(ring(28, 28, 255));
  const wide = new Uint8Array(20 * 22 * 2);
  ring(20, 22, 1000).forEach((v, i) => {
    wide[2 * i] = v >> 8;
    wide[2 * i + 1] = v & 255;
  });
  return [
    { name: "p5", bytes: pgm("P5\n28 28\n255\n", g), numbers: [28, 28, 255] },
    {
      name: "p5-comments",
      bytes: pgm("P5 # a digit\n# made by a test\n28\t28 # size\n255\n", g),
      numbers: [28, 28, 255],
    },
    { name: "p5-16bit", bytes: pgm("P5\n20 22\n1000\n", wide), numbers: [20, 22, 1000] },
  ];
}

const PGM_NUMBERS = [
  "0",
  "1",
  "-5",
  "28.5",
  "1e3",
  "65535",
  "65536",
  "4096",
  "4097",
  "999999999",
  "9999999999",
  "00000000000000000028",
  "",
  "0x1c",
  "4294967297",
];

/** One PGM-aware mutation (header numbers, magic) or a generic one. */
function mutatePgm(
  base: { bytes: Uint8Array; numbers: [number, number, number] },
  r: Random,
): { bytes: Uint8Array; kind: string } {
  const text = new TextDecoder("latin1").decode(base.bytes);
  switch (r.int(4)) {
    case 0: { // one or more of width, height, maxval replaced
      const nums = base.numbers.map(String);
      const n = 1 + r.int(3);
      for (let i = 0; i < n; i++) {
        nums[r.int(3)] = r.int(3) === 0 ? String(r.nextUint32()) : pick(r, PGM_NUMBERS);
      }
      // the raster is kept: its size now disagrees with most headers
      const end = text.indexOf(`${base.numbers[2]}`, 2) + String(base.numbers[2]).length + 1;
      const raster = base.bytes.subarray(end);
      const keep = r.int(2) === 0 ? raster : raster.subarray(0, r.int(raster.length + 1));
      return { bytes: pgm(`P5\n${nums[0]} ${nums[1]}\n${nums[2]}\n`, keep), kind: "numbers" };
    }
    case 1: { // wrong magic
      const b = base.bytes.slice();
      if (r.int(2) === 0) b[1] = pick(r, [0x31, 0x32, 0x33, 0x34, 0x36, 0x37, 0x38, 0x39]);
      else b[r.int(2)] = r.int(256);
      return { bytes: b, kind: "magic" };
    }
    case 2: // truncation inside the header or the raster
      return {
        bytes: base.bytes.subarray(0, r.int(r.int(2) === 0 ? 20 : base.bytes.length)),
        kind: "truncation",
      };
    default:
      return { bytes: mutateBytes(base.bytes, r), kind: "generic" };
  }
}

Deno.test(`decodePgm and decodeImageBytes survive ${CASES} mutated PGMs`, () => {
  const r = new Random(5151);
  const bases = basePgms();
  for (const b of bases) checkGray(decodePgm(b.bytes, b.name), b.name);
  const before = memory();
  let peak = before;
  let ok = 0, refused = 0;
  for (let c = 0; c < CASES; c++) {
    const base = bases[c % bases.length]!;
    const { bytes, kind } = mutatePgm(base, r);
    const what = `case ${c} (${base.name}, ${kind})`;
    const t0 = performance.now();
    if (c % 4 === 3) {
      const items = decodeImageBytes(bytes, "fuzz.pgm");
      assert.equal(items.length, 1, what);
      if (checkItems(items, "fuzz.pgm", what) > 0) refused++;
      else ok++;
    } else {
      try {
        const image = decodePgm(bytes, "fuzz.pgm");
        checkGray(image, what);
        // a decoded PGM's raster came from the input: its size is justified by the input's
        assert.ok(image.width * image.height <= bytes.length, what);
        ok++;
      } catch (e) {
        assert.ok(e instanceof ImageFormatError, `${what}: unexpected ${(e as Error)?.stack ?? e}`);
        assert.match(e.message, /^fuzz\.pgm: /);
        refused++;
      }
    }
    const ms = performance.now() - t0;
    assert.ok(ms < CASE_MS, `${what} took ${ms.toFixed(0)} ms`);
    peak = Math.max(peak, memory());
  }
  const grown = peak - before;
  assert.ok(ok > 0 && refused > CASES / 4, `ok ${ok}, refused ${refused}`);
  assert.ok(grown < MAX_GROWTH, `memory grew by ${grown >> 20} MiB`);
  if (Deno.env.get("FUZZ_VERBOSE")) console.log({ ok, refused, peakGrowthMiB: grown >> 20 });
});

Deno.test("decodePgm refuses huge declared sizes from the header alone", () => {
  for (
    const [header, expected] of [
      ["P5\n100000 100000\n255\n", /expected 1 to 16777216 pixels, found 100000x100000/],
      ["P5\n999999999 999999999\n255\n", /expected 1 to 16777216 pixels/],
      ["P5\n9999999999 1\n255\n", /expected the width as a decimal number/],
      ["P5\n4096 4096\n255\n", /truncated PGM data: expected 16777216 bytes/],
      ["P5\n28 28\n65536\n", /expected a maxval from 1 to 65535, found 65536/],
    ] as const
  ) {
    assert.throws(
      () => decodePgm(pgm(header, new Uint8Array(16)), "big.pgm"),
      (e: unknown) => e instanceof ImageFormatError && expected.test(e.message),
      header,
    );
  }
});

// ---------------------------------------------------------------------------------------------
// JSON lines

function baseJsonLines(): string {
  const g = ring(28, 28, 255);
  const rows = Array.from({ length: 28 }, (_, y) => g.slice(y * 28, y * 28 + 28));
  return [
    JSON.stringify(g),
    JSON.stringify({ id: "ring", pixels: g.map((v) => +(v / 255).toFixed(3)) }),
    "",
    JSON.stringify({ id: 7, pixels: rows }),
    JSON.stringify(rows) + "\r",
    "",
  ].join("\n");
}

const JSON_TOKENS = [
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  '"',
  "-1",
  "256",
  "1e309",
  "-0",
  "NaN",
  "null",
  "true",
  '"7"',
  '{"id": {"x": 1}}',
  '"pixels"',
  '"images"',
  "\n",
  "\r\n",
  "\u2028",
  "\uFEFF",
  "\\u0000",
  "[".repeat(2000),
  "]".repeat(50),
  "1".repeat(400),
];

/** One text-level mutation of the JSON lines (bytes, tokens, lines), or a generic byte one. */
function mutateJson(base: string, r: Random): { bytes: Uint8Array; kind: string } {
  const lines = base.split("\n");
  switch (r.int(5)) {
    case 0: { // a token inserted
      const at = r.int(base.length + 1);
      const t = pick(r, JSON_TOKENS);
      return {
        bytes: new TextEncoder().encode(base.slice(0, at) + t + base.slice(at)),
        kind: "token",
      };
    }
    case 1: { // a number replaced
      const matches = [...base.matchAll(/\d+(\.\d+)?/g)];
      const m = pick(r, matches);
      const t = pick(r, ["-3", "255.5", "1e2", "1e-7", '"9"', "null", "[]", "Infinity", "0x10"]);
      const text = base.slice(0, m.index) + t + base.slice(m.index + m[0].length);
      return { bytes: new TextEncoder().encode(text), kind: "number" };
    }
    case 2: { // a range deleted
      const at = r.int(base.length);
      const len = 1 + r.int(r.int(2) === 0 ? 8 : 2000);
      return {
        bytes: new TextEncoder().encode(base.slice(0, at) + base.slice(at + len)),
        kind: "delete",
      };
    }
    case 3: { // lines duplicated, dropped or swapped
      const i = r.int(lines.length), j = r.int(lines.length);
      const out = lines.slice();
      if (r.int(3) === 0) out.splice(i, 1);
      else if (r.int(2) === 0) out.splice(i, 0, lines[j]!);
      else [out[i], out[j]] = [out[j]!, out[i]!];
      return { bytes: new TextEncoder().encode(out.join("\n")), kind: "lines" };
    }
    default:
      return { bytes: mutateBytes(new TextEncoder().encode(base), r), kind: "generic" };
  }
}

async function collect(items: AsyncIterable<ImageItem>): Promise<ImageItem[]> {
  const out: ImageItem[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function chunked(bytes: Uint8Array, r: Random): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const n = 1 + r.int(3000);
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

Deno.test(`decodeImageBytes and readImageStream survive ${CASES} mutated JSON-lines inputs`, async () => {
  const r = new Random(6161);
  const base = baseJsonLines();
  const clean = decodeImageBytes(new TextEncoder().encode(base), "fuzz.jsonl");
  assert.equal(clean.length, 4);
  assert.equal(checkItems(clean, "fuzz.jsonl", "base"), 0);
  const before = memory();
  let peak = before;
  let images = 0, errors = 0;
  for (let c = 0; c < CASES; c++) {
    const { bytes, kind } = mutateJson(base, r);
    const what = `case ${c} (${kind})`;
    const t0 = performance.now();
    const items = c % 5 === 4
      ? await collect(readImageStream(chunked(bytes, r), "fuzz.jsonl"))
      : decodeImageBytes(bytes, "fuzz.jsonl");
    const e = checkItems(items, "fuzz.jsonl", what);
    errors += e;
    images += items.length - e;
    const ms = performance.now() - t0;
    assert.ok(ms < CASE_MS, `${what} took ${ms.toFixed(0)} ms`);
    peak = Math.max(peak, memory());
  }
  const grown = peak - before;
  assert.ok(images > 0 && errors > CASES / 2, `images ${images}, errors ${errors}`);
  assert.ok(grown < MAX_GROWTH, `memory grew by ${grown >> 20} MiB`);
  if (Deno.env.get("FUZZ_VERBOSE")) console.log({ images, errors, peakGrowthMiB: grown >> 20 });
});
