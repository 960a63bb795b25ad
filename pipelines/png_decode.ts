/**
 * PNG to grayscale: any PNG that `fast-png` decodes (bit depth 1 to 16; gray, gray + alpha, RGB,
 * RGBA or palette; with or without a `tRNS` transparency chunk) becomes one float per pixel in
 * [0, 1], 1 being white.
 *
 * - Color becomes luma with the ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B), as PIL's
 *   `convert("L")`.
 * - Transparency is composited over a `background` gray level: transparent pixels read as the
 *   background. Callers pass the background of the images they expect (black for MNIST's light
 *   digits on black; white for dark-on-light images that are inverted afterwards).
 * - Chunk CRCs are checked, and the header's dimensions are checked against a pixel limit before
 *   anything is allocated, so a corrupt or hostile file is refused instead of exhausting memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "fast-png";
 * import { decodePng } from "./png_decode.ts";
 * const data = new Uint8Array([0, 255]);
 * const png = encode({ width: 2, height: 1, data, channels: 1, depth: 8 });
 * const image = decodePng(png, "two.png");
 * assert(image.width === 2 && image.data[1] === 1);
 * ```
 *
 * @module
 */

import { decode } from "fast-png";
import { IdxFormatError } from "./idx.ts";

/** A grayscale image: `width * height` values in [0, 1], row-major, 1 = white. */
export interface GrayImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `width * height` gray values in [0, 1], row-major, 1 = white. */
  readonly data: Float32Array;
}

/**
 * The bytes are not a PNG this decoder can read. A subclass of {@linkcode IdxFormatError}, the
 * error type of every parser in `pipelines/`; the message reads `FILE: what was wrong`.
 */
export class PngFormatError extends IdxFormatError {
  /**
   * Creates the error; the message reads `FILE: detail`.
   *
   * @param file The file or request to blame.
   * @param detail What was expected and what was found.
   * @param options Standard error options, e.g. the decoder's error as `cause`.
   */
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(file, detail, options);
    this.name = "PngFormatError";
  }
}

/** Options of {@linkcode decodePng}. */
export interface DecodePngOptions {
  /** Gray level in [0, 1] that transparent pixels are composited over (default 0, black). */
  background?: number;
  /** Largest `width * height` accepted (default 16 Mi pixels). */
  maxPixels?: number;
}

/** The 8-byte PNG signature. */
export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Whether `bytes` starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

const DEFAULT_MAX_PIXELS = 16 << 20;

/** Reads the IHDR dimensions without decoding, so a huge declared size is refused up front. */
function headerSize(bytes: Uint8Array, file: string): { width: number; height: number } {
  if (!isPng(bytes)) {
    const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new PngFormatError(file, `expected the PNG signature, found bytes ${head || "(none)"}`);
  }
  if (bytes.length < 33) {
    throw new PngFormatError(
      file,
      `truncated PNG: expected at least 33 bytes (signature and IHDR), found ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(...bytes.subarray(12, 16));
  if (type !== "IHDR") {
    throw new PngFormatError(file, `expected the IHDR chunk first, found "${type}"`);
  }
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The bytes of the IDAT chunks present (a length past the end counts what is there). */
function idatBytes(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let total = 0;
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === "IDAT") total += Math.min(length, bytes.length - at - 8);
    if (type === "IEND") break;
    at += 12 + length;
  }
  return total;
}

/** Unpacks samples of `depth` bits (1, 2, 4: packed MSB first, rows padded to a byte). */
function unpackSamples(
  data: Uint8Array | Uint8ClampedArray | Uint16Array,
  height: number,
  samplesPerRow: number,
  depth: number,
): ArrayLike<number> {
  if (depth >= 8) return data;
  const out = new Uint8Array(height * samplesPerRow);
  const rowBytes = Math.ceil((samplesPerRow * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < samplesPerRow; i++) {
      const bit = i * depth;
      const byte = data[y * rowBytes + (bit >> 3)]!;
      out[y * samplesPerRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * Decodes a PNG to grayscale (see the module doc).
 *
 * @param bytes The PNG file's content.
 * @param file The name used in error messages.
 * @param options Background of transparent pixels, pixel limit.
 * @throws {PngFormatError} if the bytes are not a complete, valid PNG, or it is too large.
 */
export function decodePng(
  bytes: Uint8Array,
  file: string,
  options: DecodePngOptions = {},
): GrayImage {
  const { width, height } = headerSize(bytes, file);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width === 0 || height === 0 || width * height > maxPixels) {
    throw new PngFormatError(
      file,
      `expected a PNG of 1 to ${maxPixels} pixels, found ${width}x${height}`,
    );
  }
  // deflate expands at most 1032:1, so IDAT chunks too small to hold the declared image are
  // refused here, before the decoder allocates the whole image for them
  const bits = [1, 2, 4, 8, 16].includes(bytes[24]!) ? bytes[24]! : 1;
  const perPixel = ({ 2: 3, 4: 2, 6: 4 } as Record<number, number>)[bytes[25]!] ?? 1;
  const need = Math.floor((width * height * perPixel * bits) / 8);
  const idat = idatBytes(bytes);
  if (need > idat * 1032 + 1024) {
    throw new PngFormatError(
      file,
      `truncated PNG: ${width}x${height} at ${perPixel} channel(s) of ${bits} bits needs at least ${need} bytes of image data, its IDAT chunks hold ${idat} compressed bytes (deflate expands at most 1032:1)`,
    );
  }
  let png;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (e) {
    const why = (e as Error).message || String(e);
    const truncated = e instanceof RangeError || /out of range|outside the bounds|EOF/i.test(why);
    throw new PngFormatError(
      file,
      truncated ? `truncated or corrupt PNG: ${why}` : `corrupt PNG: ${why}`,
      { cause: e },
    );
  }
  const background = options.background ?? 0;
  const { channels, depth, palette, transparency } = png;
  const n = width * height;
  const samples = unpackSamples(png.data, height, width * channels, depth);
  if (samples.length < n * channels) {
    throw new PngFormatError(
      file,
      `truncated PNG data: expected ${n * channels} samples, found ${samples.length}`,
    );
  }
  const out = new Float32Array(n);
  const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;
  const over = (v: number, alpha: number) => v * alpha + background * (1 - alpha);

  if (palette !== undefined) {
    // palette entries are 8-bit [r, g, b] or [r, g, b, a] (with tRNS)
    for (let i = 0; i < n; i++) {
      const entry = palette[samples[i]!];
      if (entry === undefined) {
        throw new PngFormatError(
          file,
          `expected palette indices below ${palette.length}, found ${samples[i]}`,
        );
      }
      const v = luma(entry[0]!, entry[1]!, entry[2]!) / 255;
      out[i] = over(v, (entry[3] ?? 255) / 255);
    }
    return { width, height, data: out };
  }

  const max = 2 ** depth - 1;
  const key = transparency; // tRNS of gray / RGB images: one color that is fully transparent
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    let v: number;
    let alpha = 1;
    switch (channels) {
      case 1:
        v = samples[o]! / max;
        if (key !== undefined && key.length >= 1 && samples[o] === key[0]) alpha = 0;
        break;
      case 2:
        v = samples[o]! / max;
        alpha = samples[o + 1]! / max;
        break;
      case 3:
        v = luma(samples[o]!, samples[o + 1]!, samples[o + 2]!) / max;
        if (
          key !== undefined && key.length >= 3 && samples[o] === key[0] &&
          samples[o + 1] === key[1] && samples[o + 2] === key[2]
        ) alpha = 0;
        break;
      case 4:
        v = luma(samples[o]!, samples[o + 1]!, samples[o + 2]!) / max;
        alpha = samples[o + 3]! / max;
        break;
      default:
        throw new PngFormatError(file, `expected 1 to 4 channels, found ${channels}`);
    }
    out[i] = over(v, alpha);
  }
  return { width, height, data: out };
}
