/**
 * PNG encoding of the RGB rasters the lecture pictures are drawn on (`image_grid.ts`), through
 * `fast-png`'s `encode`. A raster is 8-bit RGB, row-major, top row first, so a picture reads the
 * way an MNIST image is stored: `data[(y * width + x) * 3 + channel]`.
 *
 * @module
 */

import { dirname } from "node:path";
import { encode } from "fast-png";
import { writeFileAtomic } from "./atomic_write.ts";

/** An 8-bit RGB raster: `width * height * 3` bytes, row-major, top row first. */
export interface RgbImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `width * height * 3` bytes, RGB, row-major, top row first. */
  readonly data: Uint8Array;
}

/**
 * Encodes a raster as a PNG file's bytes (8-bit RGB, no alpha).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode } from "fast-png";
 * import { encodePng } from "./png_encode.ts";
 * const png = encodePng({ width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]) });
 * assert(decode(png).width === 2);
 * ```
 */
export function encodePng(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(
      `Cannot encode a PNG of ${width}x${height} pixels: width and height must be positive integers`,
    );
  }
  if (data.length !== width * height * 3) {
    throw new TypeError(
      `Cannot encode a ${width}x${height} RGB PNG from ${data.length} bytes: expected ${
        width * height * 3
      }`,
    );
  }
  return encode({ width, height, data, depth: 8, channels: 3 });
}

/**
 * Writes a raster as a PNG file (atomically), creating the parent directory if needed.
 *
 * @example
 * ```ts ignore
 * import { writePng } from "./png_encode.ts";
 * await writePng("out/red.png", { width: 1, height: 1, data: new Uint8Array([255, 0, 0]) });
 * ```
 */
export async function writePng(path: string, image: RgbImage): Promise<void> {
  const bytes = encodePng(image);
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes);
}
