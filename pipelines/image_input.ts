/**
 * Images from files, stdin or request bodies, decoded into MNIST's form: 28x28 floats in [0, 1],
 * a light digit on a black background.
 *
 * Accepted formats, recognised by their first bytes (never by the file name):
 *
 * - **PNG**, any bit depth, gray or color, with or without alpha (see `png_decode.ts`): color
 *   becomes luma; transparent pixels read as background.
 * - **PGM**, binary (`P5`), maxval 1 to 65535 (one byte per sample up to 255, two big-endian bytes
 *   above), with `#` comments in the header.
 * - **IDX** images (magic 0x00000803, `[count, rows, cols]` unsigned bytes), raw or gzipped, many
 *   images per file: image `i` of `FILE` has the id `FILE#i`.
 * - **JSON lines**: one image per line, either an array of 784 numbers (or 28 arrays of 28), or an
 *   object `{"id": ..., "pixels": [...]}`. The scale rule: if any value of a line exceeds 1, the
 *   line is read as 0..255 (divided by 255), otherwise as 0..1. Values must be finite and within
 *   [0, 255]. A line's id is its `id` field, else `FILE:LINE` (1-based). Blank lines are skipped.
 *
 * Normalisation, in this order:
 *
 * 1. `invert` (for dark-on-light images): v -> 1 - v. Transparent PNG pixels are composited over
 *    the background either way (black normally, white before inverting), so they stay background.
 * 2. Images that are not 28x28 are fitted as MNIST's digits were made: the bounding box of the
 *    foreground (pixels above a tenth of the brightest) is resampled (antialiased bilinear, aspect
 *    ratio kept) so its longer side is 20 pixels, then placed in a 28x28 black image with its
 *    center of mass at the center (shifted only as far as keeps it whole). A blank image stays
 *    blank. 28x28 images are used as they are.
 *
 * A bad image becomes an {@linkcode ImageError} item and the stream goes on; a bad file becomes
 * one error item named after the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeImageBytes } from "./image_input.ts";
 * const line = JSON.stringify({ id: "seven", pixels: new Array(784).fill(255) });
 * const [item] = decodeImageBytes(new TextEncoder().encode(line), "digits.jsonl");
 * assert(item !== undefined && "pixels" in item && item.pixels[0] === 1);
 * ```
 *
 * @module
 */

import { gunzipSync } from "fflate";
import { readMaybeGzipped } from "./gunzip.ts";
import { IDX_IMAGES_MAGIC, IdxFormatError, IdxParser, parseIdx } from "./idx.ts";
import { decodePng, type GrayImage, isPng } from "./png_decode.ts";
import type { ImageId } from "./predict_stream.ts";

/** Side of an MNIST image. */
export const MNIST_SIZE = 28;
/** Pixels of an MNIST image. */
export const MNIST_PIXELS = MNIST_SIZE * MNIST_SIZE;
/** Side of the box MNIST fits a digit into before centering it. */
const DIGIT_BOX = 20;
/** Longest JSON line accepted (a 784-value line is under 10 KiB). */
const MAX_LINE_BYTES = 1 << 20;
/** Largest PGM accepted, in pixels. */
const MAX_PGM_PIXELS = 16 << 20;

/**
 * An image is not what its format says (a bad PGM header, a JSON line of the wrong length...).
 * A subclass of {@linkcode IdxFormatError}, the error type of every parser in `pipelines/`.
 */
export class ImageFormatError extends IdxFormatError {
  /**
   * Creates the error; the message reads `FILE: detail`.
   *
   * @param file The file, line or request to blame.
   * @param detail What was expected and what was found.
   * @param options Standard error options.
   */
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(file, detail, options);
    this.name = "ImageFormatError";
  }
}

/** A decoded image: its id and 784 values in [0, 1]. */
export interface DecodedImage {
  /** The image's id (file name, line number or request id). */
  readonly id: ImageId;
  /** 784 (28 * 28) grayscale values in [0, 1], row-major. */
  readonly pixels: Float32Array;
}

/** An image that could not be decoded: its id and why. */
export interface ImageError {
  /** The id of the image that failed. */
  readonly id: ImageId;
  /** Why it could not be decoded. */
  readonly error: string;
}

/** What the readers yield, in input order. */
export type ImageItem = DecodedImage | ImageError;

/** Whether an item is an error. */
export function isImageError(item: ImageItem): item is ImageError {
  return "error" in item;
}

/** Options of the decoders. */
export interface ImageInputOptions {
  /** Dark-on-light input: invert it (see the module doc). Default false. */
  invert?: boolean;
}

/** The formats {@linkcode detectFormat} recognises. */
export type ImageFormat = "png" | "pgm" | "idx" | "gzip" | "json";

/** Recognises a format from the first bytes (at least 4 are needed), or null. */
export function detectFormat(head: Uint8Array): ImageFormat | null {
  if (isPng(head)) return "png";
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  // any IDX element type and rank 1-4: the IDX parser then names what it cannot read
  if (head[0] === 0 && head[1] === 0 && head[3]! >= 1 && head[3]! <= 4) return "idx";
  if (head[0] === 0x50 /* P */ && head[1]! >= 0x30 && head[1]! <= 0x39) return "pgm";
  for (const b of head) {
    if (
      b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef || b === 0xbb || b === 0xbf
    ) continue;
    return b === 0x7b /* { */ || b === 0x5b /* [ */ ? "json" : null;
  }
  return null;
}

function hexHead(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 4)].map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");
}

// ---------------------------------------------------------------------------------------------
// PGM

/**
 * Decodes a binary PGM (`P5`) to grayscale in [0, 1].
 *
 * @throws {ImageFormatError} on a bad magic, header, maxval or truncated data.
 */
export function decodePgm(bytes: Uint8Array, file: string): GrayImage {
  let at = 0;
  const magic = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0);
  if (magic !== "P5") {
    const what = /^P[1-7]$/.test(magic)
      ? `"${magic}" (${magic === "P2" ? "an ASCII PGM" : "another Netpbm format"})`
      : hexHead(bytes);
    throw new ImageFormatError(file, `expected the binary PGM magic "P5", found ${what}`);
  }
  at = 2;
  const isSpace = (b: number | undefined) =>
    b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
  const token = (what: string): number => {
    // whitespace and comments before the token
    for (;;) {
      const b = bytes[at];
      if (isSpace(b)) at++;
      else if (b === 0x23 /* # */) {
        while (at < bytes.length && bytes[at] !== 0x0a && bytes[at] !== 0x0d) at++;
      } else break;
    }
    const start = at;
    while (at < bytes.length && bytes[at]! >= 0x30 && bytes[at]! <= 0x39) at++;
    const text = String.fromCharCode(...bytes.subarray(start, Math.min(at, start + 12)));
    if (at === start || at - start > 9 || !isSpace(bytes[at])) {
      const found = at < bytes.length || at > start
        ? JSON.stringify(String.fromCharCode(...bytes.subarray(start, start + 8)))
        : "the end of the data";
      throw new ImageFormatError(
        file,
        `bad PGM header: expected the ${what} as a decimal number followed by whitespace, found ${found}`,
      );
    }
    return Number(text);
  };
  const width = token("width");
  const height = token("height");
  const maxval = token("maxval");
  at++; // the single whitespace byte before the raster
  if (width < 1 || height < 1 || width * height > MAX_PGM_PIXELS) {
    throw new ImageFormatError(
      file,
      `bad PGM header: expected 1 to ${MAX_PGM_PIXELS} pixels, found ${width}x${height}`,
    );
  }
  if (maxval < 1 || maxval > 65535) {
    throw new ImageFormatError(
      file,
      `bad PGM header: expected a maxval from 1 to 65535, found ${maxval}`,
    );
  }
  const wide = maxval > 255;
  const n = width * height;
  const need = n * (wide ? 2 : 1);
  if (bytes.length - at < need) {
    throw new ImageFormatError(
      file,
      `truncated PGM data: expected ${need} bytes for ${width}x${height} at maxval ${maxval}, found ${
        bytes.length - at
      }`,
    );
  }
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = wide ? (bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]! : bytes[at + i]!;
    data[i] = Math.min(v, maxval) / maxval;
  }
  return { width, height, data };
}

// ---------------------------------------------------------------------------------------------
// Fitting into 28x28

/** Per output index: first source index and the normalised weights (PIL's triangle filter). */
function resampleWeights(srcLen: number, srcStart: number, srcCount: number, dstLen: number) {
  const scale = srcCount / dstLen;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const starts = new Int32Array(dstLen);
  const weights: Float32Array[] = [];
  for (let i = 0; i < dstLen; i++) {
    const center = srcStart + (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(srcLen, Math.ceil(center + support));
    const w = new Float32Array(Math.max(hi - lo, 0));
    let sum = 0;
    for (let x = lo; x < hi; x++) {
      const t = Math.abs((x + 0.5 - center) / filterScale);
      const v = t < 1 ? 1 - t : 0;
      w[x - lo] = v;
      sum += v;
    }
    if (sum > 0) { for (let k = 0; k < w.length; k++) w[k]! /= sum; }
    starts[i] = lo;
    weights.push(w);
  }
  return { starts, weights };
}

/** Resamples the box [x0, x0 + bw) x [y0, y0 + bh) of `src` to `dw` x `dh` (separable). */
function resampleBox(
  src: GrayImage,
  x0: number,
  y0: number,
  bw: number,
  bh: number,
  dw: number,
  dh: number,
): Float32Array {
  const hx = resampleWeights(src.width, x0, bw, dw);
  const hy = resampleWeights(src.height, y0, bh, dh);
  // tmp is (src.height, dw): horizontal pass
  const tmp = new Float32Array(src.height * dw);
  for (let y = 0; y < src.height; y++) {
    const row = y * src.width;
    for (let i = 0; i < dw; i++) {
      const w = hx.weights[i]!, s = hx.starts[i]!;
      let acc = 0;
      for (let k = 0; k < w.length; k++) acc += w[k]! * src.data[row + s + k]!;
      tmp[y * dw + i] = acc;
    }
  }
  // out is (dh, dw): vertical pass
  const out = new Float32Array(dh * dw);
  for (let j = 0; j < dh; j++) {
    const w = hy.weights[j]!, s = hy.starts[j]!;
    for (let i = 0; i < dw; i++) {
      let acc = 0;
      for (let k = 0; k < w.length; k++) acc += w[k]! * tmp[(s + k) * dw + i]!;
      out[j * dw + i] = Math.min(1, Math.max(0, acc));
    }
  }
  return out;
}

/**
 * Fits a light-on-dark grayscale image into MNIST's 28x28 frame (see the module doc); a 28x28
 * image is returned as a copy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitMnist } from "./image_input.ts";
 * const data = new Float32Array(100 * 50).fill(1); // a 100x50 white bar
 * const pixels = fitMnist({ width: 100, height: 50, data });
 * assert(pixels.length === 784 && pixels[14 * 28 + 14] === 1 && pixels[0] === 0);
 * ```
 */
export function fitMnist(image: GrayImage): Float32Array {
  const { width, height, data } = image;
  if (width === MNIST_SIZE && height === MNIST_SIZE) return data.slice();
  let max = 0;
  for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
  const out = new Float32Array(MNIST_PIXELS);
  if (max <= 0) return out;
  const threshold = max / 10;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = DIGIT_BOX / Math.max(bw, bh);
  const dw = Math.max(1, Math.min(DIGIT_BOX, Math.round(bw * scale)));
  const dh = Math.max(1, Math.min(DIGIT_BOX, Math.round(bh * scale)));
  const digit = resampleBox(image, x0, y0, bw, bh, dw, dh);
  // center of mass of the fitted digit
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const v = digit[y * dw + x]!;
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const cx = mass > 0 ? mx / mass : dw / 2, cy = mass > 0 ? my / mass : dh / 2;
  const left = Math.min(Math.max(Math.round(MNIST_SIZE / 2 - cx), 0), MNIST_SIZE - dw);
  const top = Math.min(Math.max(Math.round(MNIST_SIZE / 2 - cy), 0), MNIST_SIZE - dh);
  for (let y = 0; y < dh; y++) {
    out.set(digit.subarray(y * dw, (y + 1) * dw), (top + y) * MNIST_SIZE + left);
  }
  return out;
}

/** Inverts (if asked) and fits a grayscale image into MNIST's frame. */
export function toMnistPixels(image: GrayImage, options: ImageInputOptions = {}): Float32Array {
  if (options.invert) {
    const data = new Float32Array(image.data.length);
    for (let i = 0; i < data.length; i++) data[i] = 1 - image.data[i]!;
    image = { width: image.width, height: image.height, data };
  }
  return fitMnist(image);
}

/** Decodes a PNG into MNIST pixels (transparency composited over the background). */
export function pngToMnist(
  bytes: Uint8Array,
  file: string,
  options: ImageInputOptions = {},
): Float32Array {
  return toMnistPixels(decodePng(bytes, file, { background: options.invert ? 1 : 0 }), options);
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * MNIST pixels from a JSON value: 784 numbers or 28 rows of 28, with the scale rule of the module
 * doc (0..255 when any value exceeds 1, else 0..1), inverted if asked.
 *
 * @throws {ImageFormatError} naming `where` if the value is not such an array.
 */
export function pixelsFromJson(
  value: unknown,
  where: string,
  options: ImageInputOptions = {},
): Float32Array {
  let flat: unknown[] | null = null;
  if (Array.isArray(value)) {
    if (value.length === MNIST_SIZE && value.every((r) => Array.isArray(r))) {
      const rows = value as unknown[][];
      const bad = rows.findIndex((r) => r.length !== MNIST_SIZE);
      if (bad >= 0) {
        throw new ImageFormatError(
          where,
          `expected 28 rows of 28 pixel values, found a row ${bad} of ${rows[bad]!.length}`,
        );
      }
      flat = rows.flat();
    } else flat = value;
  }
  if (flat === null) {
    throw new ImageFormatError(
      where,
      `expected an array of ${MNIST_PIXELS} pixel values, found ${
        value === null ? "null" : typeof value
      }`,
    );
  }
  if (flat.length !== MNIST_PIXELS) {
    throw new ImageFormatError(
      where,
      `expected ${MNIST_PIXELS} pixel values, found ${flat.length}`,
    );
  }
  const pixels = new Float32Array(MNIST_PIXELS);
  let max = 0;
  for (let i = 0; i < MNIST_PIXELS; i++) {
    const v = flat[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 255)) {
      throw new ImageFormatError(
        where,
        `expected pixel values in [0, 255], found ${JSON.stringify(v) ?? String(v)} at index ${i}`,
      );
    }
    pixels[i] = v;
    if (v > max) max = v;
  }
  const scale = max > 1 ? 1 / 255 : 1;
  for (let i = 0; i < MNIST_PIXELS; i++) {
    const v = pixels[i]! * scale;
    pixels[i] = options.invert ? 1 - v : v;
  }
  return pixels;
}

/** One JSON line (see the module doc) -> an item; never throws. */
function decodeJsonLine(
  line: string,
  file: string,
  lineNumber: number,
  options: ImageInputOptions = {},
): ImageItem {
  const where = `${file}:${lineNumber}`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { id: where, error: `${where}: expected a JSON value, ${(e as Error).message}` };
  }
  let id: ImageId = where;
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if (typeof record.id === "string" || typeof record.id === "number") id = record.id;
    if (!("pixels" in record)) {
      return {
        id,
        error: `${where}: expected an object with "pixels", found keys ${
          JSON.stringify(Object.keys(record))
        }`,
      };
    }
    value = record.pixels;
  }
  try {
    return { id, pixels: pixelsFromJson(value, where, options) };
  } catch (e) {
    return { id, error: (e as Error).message };
  }
}

/** Splits text into lines (LF or CRLF), yielding decoded items for the non-blank ones. */
function* jsonLines(text: string, file: string, options: ImageInputOptions): Generator<ImageItem> {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line.trim() === "") continue;
    yield decodeJsonLine(line, file, i + 1, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Whole inputs

function errorItem(id: ImageId, e: unknown): ImageError {
  return { id, error: e instanceof Error ? e.message : String(e) };
}

/** The images of an IDX images array, fitted into MNIST's frame where they are not 28x28. */
function* idxImages(
  data: Uint8Array,
  dims: number[],
  file: string,
  options: ImageInputOptions,
): Generator<ImageItem> {
  if (dims.length !== 3) {
    yield {
      id: file,
      error:
        `${file}: expected IDX images of rank 3 (count, rows, cols), found rank ${dims.length}`,
    };
    return;
  }
  const [count, rows, cols] = dims as [number, number, number];
  const size = rows * cols;
  for (let i = 0; i < count; i++) {
    const gray = new Float32Array(size);
    for (let k = 0; k < size; k++) gray[k] = data[i * size + k]! / 255;
    yield {
      id: `${file}#${i}`,
      pixels: toMnistPixels({ width: cols, height: rows, data: gray }, options),
    };
  }
}

/** In-memory gunzip with the trailer's length checked (catches truncation). */
function gunzipChecked(bytes: Uint8Array, file: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = gunzipSync(bytes);
  } catch (e) {
    throw new ImageFormatError(file, `corrupt or truncated gzip data: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const n = bytes.length;
  const isize = n >= 4
    ? (bytes[n - 4]! | bytes[n - 3]! << 8 | bytes[n - 2]! << 16 | bytes[n - 1]! << 24) >>> 0
    : -1;
  if (isize !== out.length % 2 ** 32) {
    throw new ImageFormatError(
      file,
      `truncated or corrupt gzip data: the trailer says ${isize} bytes, found ${out.length}`,
    );
  }
  return out;
}

/**
 * Decodes one whole input held in memory (a file's or stdin's content): one item per image, in
 * order. Never throws: a bad input becomes error items.
 *
 * @param bytes The content.
 * @param name The file name (or `stdin`), which the ids derive from.
 * @param options Whether to invert.
 */
export function decodeImageBytes(
  bytes: Uint8Array,
  name: string,
  options: ImageInputOptions = {},
): ImageItem[] {
  return [...decodeBytes(bytes, name, options, true)];
}

function* decodeBytes(
  bytes: Uint8Array,
  name: string,
  options: ImageInputOptions,
  allowGzip: boolean,
): Generator<ImageItem> {
  try {
    switch (detectFormat(bytes.subarray(0, 64))) {
      case "png":
        yield { id: name, pixels: pngToMnist(bytes, name, options) };
        return;
      case "pgm":
        yield { id: name, pixels: toMnistPixels(decodePgm(bytes, name), options) };
        return;
      case "idx": {
        const idx = parseIdx(bytes, name, {
          expect: { magic: IDX_IMAGES_MAGIC, description: "images" },
        });
        yield* idxImages(idx.data, idx.dims, name, options);
        return;
      }
      case "gzip":
        if (allowGzip) {
          yield* decodeBytes(gunzipChecked(bytes, name), name, options, false);
          return;
        }
        break;
      case "json":
        yield* jsonLines(new TextDecoder().decode(bytes), name, options);
        return;
    }
    throw new ImageFormatError(
      name,
      `expected a PNG, PGM (P5), IDX, gzip or JSON-lines input, found ${
        bytes.length === 0 ? "no data" : `bytes ${hexHead(bytes)}`
      }`,
    );
  } catch (e) {
    yield errorItem(name, e);
  }
}

/** Splits a byte stream into lines, bounded in length; yields [lineNumber, line] or errors. */
async function* lines(
  chunks: AsyncIterable<Uint8Array>,
  file: string,
): AsyncGenerator<[number, string] | ImageError> {
  const decoder = new TextDecoder();
  let pending = "";
  let lineNumber = 0;
  let skipping = false; // inside an over-long line, dropping it up to its newline
  for await (const chunk of chunks) {
    const text = pending + decoder.decode(chunk, { stream: true });
    let from = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
      const line = text.slice(from, nl);
      from = nl + 1;
      lineNumber++;
      if (skipping) skipping = false;
      else yield [lineNumber, line.replace(/\r$/, "")];
    }
    pending = skipping ? "" : text.slice(from);
    if (pending.length > MAX_LINE_BYTES) {
      const where = `${file}:${lineNumber + 1}`;
      yield {
        id: where,
        error: `${where}: expected a line of at most ${MAX_LINE_BYTES} bytes, found a longer one`,
      };
      pending = "";
      skipping = true;
    }
  }
  pending += decoder.decode();
  if (!skipping && pending.length > 0) yield [lineNumber + 1, pending.replace(/\r$/, "")];
}

/** Decodes a stream of JSON lines as lines arrive. */
async function* jsonLineStream(
  chunks: AsyncIterable<Uint8Array>,
  file: string,
  options: ImageInputOptions,
): AsyncGenerator<ImageItem> {
  for await (const entry of lines(chunks, file)) {
    if (!Array.isArray(entry)) {
      yield entry;
      continue;
    }
    const [n, line] = entry;
    if (line.trim() !== "") yield decodeJsonLine(line, file, n, options);
  }
}

/** An async iterable of a stream's chunks that hands back the first one already read. */
async function* prepend(first: Uint8Array, rest: ReadableStreamDefaultReader<Uint8Array>) {
  if (first.length > 0) yield first;
  for (;;) {
    const { value, done } = await rest.read();
    if (done) return;
    if (value.length > 0) yield value;
  }
}

/**
 * Reads the images of a byte stream (stdin): JSON lines are decoded as they arrive, so an endless
 * producer can pipe into it; other formats are read whole first.
 *
 * @param stream The bytes, e.g. `Deno.stdin.readable`.
 * @param name The name ids derive from (default `stdin`).
 * @param options Whether to invert.
 */
export async function* readImageStream(
  stream: ReadableStream<Uint8Array>,
  name = "stdin",
  options: ImageInputOptions = {},
): AsyncGenerator<ImageItem> {
  const reader = stream.getReader();
  try {
    // gather enough bytes to recognise the format
    let head = new Uint8Array(0);
    while (head.length < 8) {
      const { value, done } = await reader.read();
      if (done) break;
      const next = new Uint8Array(head.length + value.length);
      next.set(head);
      next.set(value, head.length);
      head = next;
      if (detectFormat(head) === "json") break;
    }
    if (detectFormat(head) === "json") {
      yield* jsonLineStream(prepend(head, reader), name, options);
      return;
    }
    const parts: Uint8Array[] = [head];
    for await (const c of prepend(new Uint8Array(0), reader)) parts.push(c);
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    yield* decodeBytes(all, name, options, true);
  } finally {
    reader.releaseLock();
  }
}

/**
 * Reads the images of one file: IDX (raw or gzipped) through the streaming gunzip and IDX
 * parser, JSON lines line by line, PNG and PGM whole. A file that cannot be read yields one error
 * item with the path as its id.
 *
 * @param path The file.
 * @param options Whether to invert.
 */
export async function* readImageFile(
  path: string,
  options: ImageInputOptions = {},
): AsyncGenerator<ImageItem> {
  let head: Uint8Array;
  try {
    using file = await Deno.open(path, { read: true });
    const buf = new Uint8Array(64);
    let n = 0;
    for (;;) {
      const r = await file.read(buf.subarray(n));
      if (r === null || r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    head = buf.subarray(0, n);
  } catch (e) {
    yield { id: path, error: `${path}: cannot read: ${(e as Error).message}` };
    return;
  }
  const format = detectFormat(head);
  if (format === "json") {
    try {
      using file = await Deno.open(path, { read: true });
      yield* jsonLineStream(file.readable, path, options);
    } catch (e) {
      yield errorItem(path, e);
    }
    return;
  }
  if (format === "idx" || format === "gzip") {
    // stream through the checked gunzip; an IDX inside goes straight into the parser
    let parser: IdxParser | null = null;
    const other: Uint8Array[] = [];
    try {
      await readMaybeGzipped(path, (chunk) => {
        if (parser === null && other.length === 0 && chunk[0] === 0 && chunk[1] === 0) {
          parser = new IdxParser(path, {
            expect: { magic: IDX_IMAGES_MAGIC, description: "images" },
          });
        }
        if (parser !== null) parser.push(chunk);
        else other.push(chunk);
      });
    } catch (e) {
      yield errorItem(path, e);
      return;
    }
    if (parser !== null) {
      let idx;
      try {
        idx = (parser as IdxParser).finish();
      } catch (e) {
        yield errorItem(path, e);
        return;
      }
      yield* idxImages(idx.data, idx.dims, path, options);
      return;
    }
    const all = new Uint8Array(other.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of other) {
      all.set(p, at);
      at += p.length;
    }
    yield* decodeBytes(all, path, options, false);
    return;
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    yield { id: path, error: `${path}: cannot read: ${(e as Error).message}` };
    return;
  }
  yield* decodeBytes(bytes, path, options, false);
}
