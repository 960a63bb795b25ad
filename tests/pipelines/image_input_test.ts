import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "fast-png";
import { gzipSync } from "fflate";
import {
  type DecodedImage,
  decodeImageBytes,
  decodePgm,
  detectFormat,
  fitMnist,
  ImageFormatError,
  type ImageItem,
  isImageError,
  readImageFile,
  readImageStream,
} from "../../pipelines/image_input.ts";
import { IdxFormatError } from "../../pipelines/idx.ts";
import { decodePng, PngFormatError } from "../../pipelines/png_decode.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "image_input_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function collect(items: AsyncIterable<ImageItem>): Promise<ImageItem[]> {
  const out: ImageItem[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function one(items: ImageItem[]): DecodedImage {
  assert.equal(items.length, 1, `expected one item, got ${JSON.stringify(items.map((i) => i.id))}`);
  const item = items[0]!;
  assert.ok(!isImageError(item), `unexpected error: ${isImageError(item) ? item.error : ""}`);
  return item;
}

function errorOf(items: ImageItem[]): string {
  assert.equal(items.length, 1);
  const item = items[0]!;
  assert.ok(isImageError(item), "expected an error item");
  return item.error;
}

/** 784 distinct-ish byte values. */
function bytes784(): Uint8Array {
  return Uint8Array.from({ length: 784 }, (_, i) => (i * 37 + 11) % 256);
}

const f = Math.fround;

Deno.test("PNG 8-bit gray 28x28 decodes to v / 255 per pixel", () => {
  const v = bytes784();
  const png = encode({ width: 28, height: 28, data: v, channels: 1, depth: 8 });
  assert.equal(detectFormat(png), "png");
  const { id, pixels } = one(decodeImageBytes(png, "gray8.png"));
  assert.equal(id, "gray8.png");
  assert.deepEqual([...pixels], [...v].map((x) => f(x / 255)));
});

Deno.test("PNG 16-bit gray 28x28 decodes to v / 65535 per pixel", () => {
  const v = Uint16Array.from({ length: 784 }, (_, i) => (i * 8363) % 65536);
  const png = encode({ width: 28, height: 28, data: v, channels: 1, depth: 16 });
  const { pixels } = one(decodeImageBytes(png, "gray16.png"));
  assert.deepEqual([...pixels], [...v].map((x) => f(x / 65535)));
});

Deno.test("PNG 1-bit gray and 8-bit palette 28x28 decode to 0 and 1", () => {
  // 1-bit: rows of 4 bytes, MSB first; pixel x is on when (x + y) is even
  const packed = new Uint8Array(28 * 4);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if ((x + y) % 2 === 0) packed[y * 4 + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
  const want = Array.from(
    { length: 784 },
    (_, i) => ((i % 28) + Math.floor(i / 28)) % 2 === 0 ? 1 : 0,
  );
  const bits = encode({ width: 28, height: 28, data: packed, channels: 1, depth: 1 });
  assert.deepEqual([...one(decodeImageBytes(bits, "bits.png")).pixels], want);

  const indices = Uint8Array.from(want);
  const palette = encode({
    width: 28,
    height: 28,
    data: indices,
    channels: 1,
    depth: 8,
    palette: [[0, 0, 0], [255, 255, 255]],
  });
  assert.deepEqual([...one(decodeImageBytes(palette, "palette.png")).pixels], want);
});

Deno.test("PNG RGB becomes BT.601 luma: white 1, red 0.299, green 0.587, blue 0.114", () => {
  const rgb = new Uint8Array(784 * 3);
  const colors = [[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]];
  for (let i = 0; i < 784; i++) rgb.set(colors[i % 4]!, i * 3);
  const png = encode({ width: 28, height: 28, data: rgb, channels: 3, depth: 8 });
  const { pixels } = one(decodeImageBytes(png, "rgb.png"));
  assert.deepEqual([...pixels.subarray(0, 4)], [1, 0.299, 0.587, 0.114].map(f));
});

Deno.test("PNG RGBA: transparent pixels are background (black; white before --invert), alpha blends", () => {
  const rgba = new Uint8Array(784 * 4);
  rgba.set([255, 255, 255, 255], 0); // opaque white
  rgba.set([255, 255, 255, 0], 4); // transparent white
  rgba.set([0, 0, 0, 255], 8); // opaque black
  rgba.set([255, 255, 255, 51], 12); // white at 20%
  const png = encode({ width: 28, height: 28, data: rgba, channels: 4, depth: 8 });
  const plain = one(decodeImageBytes(png, "rgba.png")).pixels;
  assert.deepEqual([...plain.subarray(0, 4)], [1, 0, 0, f(0.2)]);
  assert.equal(plain[100], 0); // all-zero pixels: transparent black
  const inverted = one(decodeImageBytes(png, "rgba.png", { invert: true })).pixels;
  // over white, then inverted: white -> 0, transparent -> 0, black -> 1, 20% white -> 0
  assert.deepEqual([...inverted.subarray(0, 4)], [0, 0, 1, 0]);
  assert.equal(inverted[100], 0);
});

Deno.test("a 56x40 PNG is fitted as MNIST digits: a 10x30 white bar becomes 7x20 centered by mass (rows 4-23, cols 11-17)", () => {
  const gray = new Uint8Array(56 * 40);
  for (let y = 5; y < 35; y++) for (let x = 10; x < 20; x++) gray[y * 56 + x] = 255;
  const png = encode({ width: 56, height: 40, data: gray, channels: 1, depth: 8 });
  const { pixels } = one(decodeImageBytes(png, "bar.png"));
  assert.equal(pixels.length, 784);
  const on: [number, number][] = [];
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) if (pixels[y * 28 + x]! > 0.05) on.push([y, x]);
  }
  const ys = on.map(([y]) => y), xs = on.map(([, x]) => x);
  assert.deepEqual([Math.min(...ys), Math.max(...ys)], [4, 23]);
  assert.deepEqual([Math.min(...xs), Math.max(...xs)], [11, 17]);
  assert.ok(pixels[14 * 28 + 14]! > 0.9999, `center ${pixels[14 * 28 + 14]}`);
  assert.ok(pixels.every((v) => v >= 0 && v <= 1));
});

Deno.test("fitMnist: 28x28 images pass unchanged, a blank 40x40 image stays blank, dark-on-light is inverted first", () => {
  const data = Float32Array.from({ length: 784 }, (_, i) => (i % 5) / 4);
  assert.deepEqual(fitMnist({ width: 28, height: 28, data }), data);
  assert.deepEqual(
    fitMnist({ width: 40, height: 40, data: new Float32Array(1600) }),
    new Float32Array(784),
  );
  // a black 4x4 square on a white 10x10 page
  const page = new Uint8Array(100).fill(255);
  for (let y = 3; y < 7; y++) for (let x = 3; x < 7; x++) page[y * 10 + x] = 0;
  const png = encode({ width: 10, height: 10, data: page, channels: 1, depth: 8 });
  const { pixels } = one(decodeImageBytes(png, "page.png", { invert: true }));
  assert.equal(pixels[14 * 28 + 14], 1); // the square, now white, fills the center
  assert.equal(pixels[0], 0);
});

function pgm(header: string, raster: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(h.length + raster.length);
  out.set(h);
  out.set(raster, h.length);
  return out;
}

Deno.test("PGM P5: 8-bit with a comment, 16-bit big-endian at maxval 1000", () => {
  const v = bytes784();
  const { pixels } = one(decodeImageBytes(pgm("P5\n# scanned digit\n28 28\n255\n", v), "d.pgm"));
  assert.deepEqual([...pixels], [...v].map((x) => f(x / 255)));

  const wide = new Uint8Array(784 * 2);
  for (let i = 0; i < 784; i++) {
    const s = (i * 13) % 1001;
    wide[2 * i] = s >> 8;
    wide[2 * i + 1] = s & 0xff;
  }
  const deep = one(decodeImageBytes(pgm("P5 28 28 1000\n", wide), "deep.pgm")).pixels;
  assert.deepEqual([...deep], Array.from({ length: 784 }, (_, i) => f(((i * 13) % 1001) / 1000)));
});

Deno.test("PGM errors: a bad header, an ASCII P2, maxval 0 and truncated data are refused by name", () => {
  assert.match(
    errorOf(decodeImageBytes(pgm("P5\n28 abc\n255\n", new Uint8Array(784)), "bad.pgm")),
    /^bad\.pgm: bad PGM header: expected the height as a decimal number followed by whitespace, found "abc/,
  );
  assert.match(
    errorOf(decodeImageBytes(pgm("P2\n28 28\n255\n", new Uint8Array(0)), "a.pgm")),
    /expected the binary PGM magic "P5", found "P2" \(an ASCII PGM\)/,
  );
  assert.match(
    errorOf(decodeImageBytes(pgm("P5 28 28 0\n", new Uint8Array(784)), "z.pgm")),
    /expected a maxval from 1 to 65535, found 0/,
  );
  assert.match(
    errorOf(decodeImageBytes(pgm("P5 28 28 255\n", new Uint8Array(700)), "t.pgm")),
    /truncated PGM data: expected 784 bytes for 28x28 at maxval 255, found 700/,
  );
  assert.throws(
    () => decodePgm(pgm("P5 28 28 255\n", new Uint8Array(10)), "t.pgm"),
    ImageFormatError,
  );
});

function idx(count: number, rows: number, cols: number, magic = 0x803): Uint8Array {
  const header = magic === 0x803 ? 16 : 8;
  const out = new Uint8Array(header + count * rows * cols);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  view.setUint32(4, count);
  if (magic === 0x803) {
    view.setUint32(8, rows);
    view.setUint32(12, cols);
  }
  for (let i = header; i < out.length; i++) out[i] = (i * 31) % 256;
  return out;
}

Deno.test("IDX images, raw and gzipped files: one image per entry, ids FILE#INDEX, pixels byte / 255", () =>
  inTempDir(async (dir) => {
    const raw = idx(3, 28, 28);
    const rawPath = join(dir, "t10k-images-idx3-ubyte");
    const gzPath = join(dir, "renamed.bin");
    await Deno.writeFile(rawPath, raw);
    await Deno.writeFile(gzPath, gzipSync(raw));
    for (const path of [rawPath, gzPath]) {
      const items = await collect(readImageFile(path));
      assert.deepEqual(items.map((i) => i.id), [`${path}#0`, `${path}#1`, `${path}#2`]);
      const second = items[1] as DecodedImage;
      assert.deepEqual(
        [...second.pixels],
        [...raw.subarray(16 + 784, 16 + 2 * 784)].map((x) => f(x / 255)),
      );
    }
    // the same bytes from stdin (in memory)
    const stdin = decodeImageBytes(gzipSync(raw), "stdin");
    assert.deepEqual(stdin.map((i) => i.id), ["stdin#0", "stdin#1", "stdin#2"]);
    assert.deepEqual(
      (stdin[2] as DecodedImage).pixels,
      ((await collect(readImageFile(rawPath)))[2] as DecodedImage).pixels,
    );
  }));

Deno.test("IDX: 14x14 images are fitted into 28x28; a truncated gzip, a truncated IDX and a labels file give one error item each", () =>
  inTempDir(async (dir) => {
    const small = join(dir, "small.idx");
    await Deno.writeFile(small, idx(2, 14, 14));
    const items = await collect(readImageFile(small));
    assert.equal(items.length, 2);
    assert.ok(items.every((i) => !isImageError(i) && i.pixels.length === 784));

    const gz = gzipSync(idx(3, 28, 28));
    const cut = join(dir, "cut.gz");
    await Deno.writeFile(cut, gz.subarray(0, gz.length - 20));
    const [gzError, ...restGz] = await collect(readImageFile(cut));
    assert.equal(restGz.length, 0);
    assert.equal(gzError!.id, cut);
    assert.match((gzError as { error: string }).error, /gzip/);

    const short = join(dir, "short.idx");
    await Deno.writeFile(short, idx(3, 28, 28).subarray(0, 1000));
    assert.match(
      errorOf(await collect(readImageFile(short))),
      /truncated data: expected 2352 bytes of data, found 984/,
    );

    const floats = idx(1, 28, 28);
    floats[2] = 0x0d; // float32 elements
    assert.match(
      errorOf(decodeImageBytes(floats, "floats.idx")),
      /^floats\.idx: expected IDX magic 2051 \(images\), found 3331 \(float32, rank 3\)$/,
    );

    const labels = join(dir, "labels.idx");
    await Deno.writeFile(labels, idx(3, 1, 1, 0x801));
    assert.match(
      errorOf(await collect(readImageFile(labels))),
      /expected IDX magic 2051 \(images\), found 2049/,
    );
  }));

Deno.test("JSON lines: 0..255 and 0..1 arrays, {id, pixels} with 28 rows; bad lines become error items and the rest goes on", () => {
  const ramp255 = Array.from({ length: 784 }, (_, i) => i % 256);
  const ramp01 = Array.from({ length: 784 }, (_, i) => (i % 3) / 2);
  const rows = Array.from({ length: 28 }, () => new Array(28).fill(1));
  const text = [
    JSON.stringify(ramp255),
    "",
    JSON.stringify(ramp01),
    JSON.stringify({ id: "rows", pixels: rows }),
    JSON.stringify(ramp255.slice(1)),
    "{not json",
    JSON.stringify(ramp255.map((v, i) => (i === 5 ? 300 : v))),
    JSON.stringify({ id: 42, image: [] }),
    JSON.stringify({ id: 7, pixels: ramp01 }) + "\r",
  ].join("\n");
  const items = decodeImageBytes(new TextEncoder().encode(text), "in.jsonl");
  assert.deepEqual(items.map((i) => i.id), [
    "in.jsonl:1",
    "in.jsonl:3",
    "rows",
    "in.jsonl:5",
    "in.jsonl:6",
    "in.jsonl:7",
    42,
    7,
  ]);
  assert.deepEqual([...(items[0] as DecodedImage).pixels], ramp255.map((v) => f(v / 255)));
  assert.deepEqual([...(items[1] as DecodedImage).pixels], ramp01.map(f));
  assert.ok((items[2] as DecodedImage).pixels.every((v) => v === 1));
  const errors = items.filter(isImageError).map((i) => i.error);
  assert.equal(errors.length, 4);
  assert.match(errors[0]!, /^in\.jsonl:5: expected 784 pixel values, found 783$/);
  assert.match(errors[1]!, /^in\.jsonl:6: expected a JSON value/);
  assert.match(
    errors[2]!,
    /^in\.jsonl:7: expected pixel values in \[0, 255\], found 300 at index 5$/,
  );
  assert.match(errors[3]!, /expected an object with "pixels"/);
  assert.deepEqual([...(items[7] as DecodedImage).pixels], ramp01.map(f));
  // --invert applies to JSON too
  const inverted = decodeImageBytes(new TextEncoder().encode(JSON.stringify(ramp01)), "x", {
    invert: true,
  });
  assert.deepEqual([...(inverted[0] as DecodedImage).pixels], ramp01.map((v) => f(1 - v)));
});

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

Deno.test("readImageStream decodes JSON lines split across chunks as they come, and a PNG sent in pieces", async () => {
  const line = (v: number) => JSON.stringify(new Array(784).fill(v)) + "\n";
  const bytes = new TextEncoder().encode(line(255) + line(0) + "[1,2]\n" + line(0.5));
  const chunks = [
    bytes.subarray(0, 3),
    bytes.subarray(3, 2000),
    bytes.subarray(2000, 5000),
    bytes.subarray(5000),
  ];
  const items = await collect(readImageStream(streamOf(chunks)));
  assert.deepEqual(items.map((i) => i.id), ["stdin:1", "stdin:2", "stdin:3", "stdin:4"]);
  assert.equal((items[0] as DecodedImage).pixels[0], 1);
  assert.match((items[2] as { error: string }).error, /expected 784 pixel values, found 2/);
  assert.equal((items[3] as DecodedImage).pixels[783], 0.5);

  // the first item arrives before the stream ends
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slow = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(new TextEncoder().encode(line(255)));
      await gate;
      controller.close();
    },
  });
  const it = readImageStream(slow, "pipe")[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal((first.value as DecodedImage).id, "pipe:1");
  release();
  assert.equal((await it.next()).done, true);

  const png = encode({ width: 28, height: 28, data: bytes784(), channels: 1, depth: 8 });
  const pieces = [png.subarray(0, 5), png.subarray(5, 40), png.subarray(40)];
  const [decoded] = await collect(readImageStream(streamOf(pieces), "upload"));
  assert.deepEqual((decoded as DecodedImage).pixels, one(decodeImageBytes(png, "x")).pixels);
});

Deno.test("corrupt input: a truncated PNG, a PNG with a bad CRC, a PNG declaring 100000x100000 and unknown bytes are error items", () => {
  const png = encode({ width: 28, height: 28, data: bytes784(), channels: 1, depth: 8 });
  assert.match(
    errorOf(decodeImageBytes(png.subarray(0, png.length / 2), "half.png")),
    /^half\.png: truncated or corrupt PNG/,
  );
  const flipped = png.slice();
  flipped[40]! ^= 0xff; // inside the IDAT data
  assert.match(errorOf(decodeImageBytes(flipped, "crc.png")), /^crc\.png: .*(CRC|crc)/);
  const huge = png.slice();
  new DataView(huge.buffer).setUint32(16, 100000);
  new DataView(huge.buffer).setUint32(20, 100000);
  assert.match(
    errorOf(decodeImageBytes(huge, "huge.png")),
    /expected a PNG of 1 to 16777216 pixels, found 100000x100000/,
  );
  assert.throws(
    () => decodePng(huge, "huge.png"),
    (e) => e instanceof PngFormatError && e instanceof IdxFormatError,
  );
  assert.match(
    errorOf(decodeImageBytes(new TextEncoder().encode("hello"), "greeting.txt")),
    /^greeting\.txt: expected a PNG, PGM \(P5\), IDX, gzip or JSON-lines input, found bytes 0x68 0x65 0x6c 0x6c$/,
  );
});

Deno.test("readImageFile: a missing file is one error item; a PNG file's id is its path", () =>
  inTempDir(async (dir) => {
    const missing = join(dir, "nope.png");
    assert.match(
      errorOf(await collect(readImageFile(missing))),
      /nope\.png: cannot read: No such file/,
    );
    const path = join(dir, "digit.png");
    await Deno.writeFile(
      path,
      encode({ width: 28, height: 28, data: bytes784(), channels: 1, depth: 8 }),
    );
    assert.equal(one(await collect(readImageFile(path))).id, path);
  }));
