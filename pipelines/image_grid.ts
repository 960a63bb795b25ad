/**
 * Pictures of 2-D maps (images, filter responses, activations, kernels) on RGB rasters: a map is
 * min-max scaled to gray (its smallest value black, its largest white) and upscaled by an integer
 * factor with nearest-neighbour, so every input pixel stays a visible square; maps are laid out in
 * labelled panels or grids, with text in a tiny built-in 5x7 bitmap font (upper case, digits and
 * a little punctuation; lower case is drawn as upper case).
 *
 * Maps are row-major, top row first, as MNIST images and NHWC tensors store them, and rasters
 * are written the same way, so digits come out upright.
 *
 * @module
 */

import type { RgbImage } from "./png_encode.ts";

/** An RGB colour, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** A 2-D map: `rows * cols` values, row-major, top row first. */
export interface MapView {
  /** The `rows * cols` values, row-major. */
  readonly values: ArrayLike<number>;
  /** Number of rows (height). */
  readonly rows: number;
  /** Number of columns (width). */
  readonly cols: number;
}

/** The background of the grids. */
const WHITE: Rgb = [255, 255, 255];
/** Black, for drawing (`fillRect(img, x, y, w, h, BLACK)`). */
export const BLACK: Rgb = [0, 0, 0];
/** The colour of captions and labels. */
const TEXT: Rgb = [32, 32, 32];
const FRAME: Rgb = [170, 170, 170];

/** Outer margin of panels and grids, in pixels. */
export const MARGIN = 8;
/** Space between a label and its map, and between grid cells, in pixels. */
export const GAP = 6;

// 5x7 glyphs, one number per row, bit 4 the leftmost pixel.
const GLYPHS: Record<string, readonly number[]> = {
  "0": [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  "1": [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  "2": [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  "3": [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  "4": [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  "5": [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  "6": [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  "7": [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  "8": [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  "9": [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  " ": [0, 0, 0, 0, 0, 0, 0],
  ".": [0, 0, 0, 0, 0, 0x0c, 0x0c],
  ",": [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  ":": [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  "-": [0, 0, 0, 0x1f, 0, 0, 0],
  _: [0, 0, 0, 0, 0, 0, 0x1f],
  "+": [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  "=": [0, 0, 0x1f, 0, 0x1f, 0, 0],
  "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  "[": [0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e],
  "]": [0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e],
  "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  "#": [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a],
  "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  "'": [0x0c, 0x04, 0x08, 0, 0, 0, 0],
  "*": [0, 0x04, 0x15, 0x0e, 0x15, 0x04, 0],
  "<": [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
  ">": [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
  "?": [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
  "!": [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04],
};

/** Glyph width and height of the font, in font pixels (each drawn as `scale` x `scale`). */
const GLYPH_WIDTH = 5;
/** See `GLYPH_WIDTH`. */
const GLYPH_HEIGHT = 7;

/** Width in pixels of `text` drawn at `scale` (6 font pixels per character, no trailing space). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

/** Height of one text line at `scale`, line spacing included. */
export function lineHeight(scale = 1): number {
  return (GLYPH_HEIGHT + 2) * scale;
}

/**
 * A new raster filled with `background` (default white).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createImage } from "./image_grid.ts";
 * const image = createImage(4, 2);
 * assert(image.data.length === 24 && image.data[0] === 255);
 * ```
 */
export function createImage(
  width: number,
  height: number,
  options: { background?: Rgb } = {},
): RgbImage {
  const background = options.background ?? WHITE;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = background[0];
    data[i + 1] = background[1];
    data[i + 2] = background[2];
  }
  return { width, height, data };
}

/** A rectangle on a raster, in pixels. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Fills a rectangle with a colour (clipped to the raster).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BLACK, createImage, fillRect } from "./image_grid.ts";
 * const image = createImage(4, 4);
 * fillRect(image, { x: 1, y: 1, width: 2, height: 2, color: BLACK });
 * assert(image.data[(1 * 4 + 1) * 3] === 0 && image.data[0] === 255);
 * ```
 */
export function fillRect(image: RgbImage, rect: Rect & { readonly color: Rgb }): void {
  const color = rect.color;
  // rounded, so a fractional position still lands on whole pixels
  const x0 = Math.max(0, Math.round(rect.x));
  const x1 = Math.min(image.width, Math.round(rect.x + rect.width));
  const y0 = Math.max(0, Math.round(rect.y));
  const y1 = Math.min(image.height, Math.round(rect.y + rect.height));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const o = (y * image.width + x) * 3;
      image.data[o] = color[0];
      image.data[o + 1] = color[1];
      image.data[o + 2] = color[2];
    }
  }
}

/** Draws a one-pixel frame (light gray by default) just outside a rectangle. */
export function drawFrame(image: RgbImage, rect: Rect & { readonly color?: Rgb }): void {
  const { x, y, width, height } = rect;
  const color = rect.color ?? FRAME;
  fillRect(image, { x: x - 1, y: y - 1, width: width + 2, height: 1, color });
  fillRect(image, { x: x - 1, y: y + height, width: width + 2, height: 1, color });
  fillRect(image, { x: x - 1, y, width: 1, height, color });
  fillRect(image, { x: x + width, y, width: 1, height, color });
}

/**
 * Draws `text` with its top-left corner at (x, y) in the built-in 5x7 font, each font pixel a
 * `scale` x `scale` square. Characters the font lacks are drawn as `?`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createImage, drawText, textWidth } from "./image_grid.ts";
 * const image = createImage(textWidth("CONV2D", 2), 14);
 * drawText(image, "conv2d", { x: 0, y: 0, scale: 2 });
 * assert(image.data.some((v) => v < 128));
 * ```
 */
export function drawText(
  image: RgbImage,
  text: string,
  options: { x: number; y: number; scale?: number; color?: Rgb },
): void {
  const { x, y } = options;
  const scale = options.scale ?? 1;
  const color = options.color ?? TEXT;
  let cx = x;
  for (const ch of text.toUpperCase()) {
    const glyph = GLYPHS[ch] ?? GLYPHS["?"]!;
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      const bits = glyph[row]!;
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if ((bits >> (GLYPH_WIDTH - 1 - col)) & 1) {
          fillRect(image, {
            x: cx + col * scale,
            y: y + row * scale,
            width: scale,
            height: scale,
            color,
          });
        }
      }
    }
    cx += (GLYPH_WIDTH + 1) * scale;
  }
}

/** Splits `text` at spaces into lines no wider than `maxWidth` pixels (long words are cut). */
export function wrapText(
  text: string,
  maxWidth: number,
  options: { scale?: number } = {},
): string[] {
  const scale = options.scale ?? 1;
  const perLine = Math.max(1, Math.floor((maxWidth / scale + 1) / (GLYPH_WIDTH + 1)));
  const lines: string[] = [];
  let line = "";
  for (let word of text.split(" ")) {
    while (word.length > perLine) {
      if (line !== "") lines.push(line);
      lines.push(word.slice(0, perLine));
      word = word.slice(perLine);
      line = "";
    }
    const candidate = line === "" ? word : `${line} ${word}`;
    if (candidate.length <= perLine) line = candidate;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "" || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * The smallest and largest value of a map (0, 0 if it has none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapRange } from "./image_grid.ts";
 * assert(mapRange([3, -1, 2]).min === -1);
 * ```
 */
export function mapRange(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return Number.isFinite(min) && Number.isFinite(max) ? { min, max } : { min: 0, max: 0 };
}

/**
 * Min-max scaling to gray levels: the smallest value becomes 0 (black), the largest 255 (white).
 * A constant map is black if it is all zeros (a dead ReLU map), else mid-gray. `range` overrides the map's own min and max (values outside are
 * clipped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toGray } from "./image_grid.ts";
 * assert(toGray([-2, 0, 2]).join() === "0,128,255");
 * ```
 */
export function toGray(
  values: ArrayLike<number>,
  range: { min: number; max: number } = mapRange(values),
): Uint8Array {
  const out = new Uint8Array(values.length);
  const span = range.max - range.min;
  if (!(span > 0)) return out.fill(range.max === 0 && range.min === 0 ? 0 : 128);
  for (let i = 0; i < values.length; i++) {
    const t = (values[i]! - range.min) / span;
    out[i] = Math.round(255 * Math.min(1, Math.max(0, t)));
  }
  return out;
}

/**
 * The largest integer upscaling factor that fits a `rows x cols` map in a `box x box` square.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitScale } from "./image_grid.ts";
 * assert(fitScale({ rows: 28, cols: 28 }, 224) === 8);
 * ```
 */
export function fitScale(map: { rows: number; cols: number }, box: number): number {
  return Math.max(1, Math.floor(box / Math.max(map.rows, map.cols)));
}

/**
 * Draws a map, min-max scaled to gray (or to `range`), upscaled `scale` times with
 * nearest-neighbour, its top-left corner at (x, y).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createImage, drawMap } from "./image_grid.ts";
 * const image = createImage(4, 2);
 * drawMap(image, { rows: 1, cols: 2, values: [0, 1] }, { x: 0, y: 0, scale: 2 });
 * assert(image.data[0] === 0 && image.data[(1 * 4 + 3) * 3] === 255);
 * ```
 */
export function drawMap(
  image: RgbImage,
  map: MapView,
  options: { x: number; y: number; scale: number; range?: { min: number; max: number } },
): void {
  const { x, y } = options;
  const { rows, cols } = map;
  if (map.values.length !== rows * cols) {
    throw new TypeError(
      `Cannot draw a ${rows}x${cols} map from ${map.values.length} values: expected ${rows * cols}`,
    );
  }
  const gray = toGray(map.values, options.range);
  const s = options.scale;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = gray[r * cols + c]!;
      fillRect(image, { x: x + c * s, y: y + r * s, width: s, height: s, color: [g, g, g] });
    }
  }
}

/** Options of {@linkcode labelledMap}. */
export interface LabelledMapOptions {
  /** Label text; each entry is wrapped to the panel's width. */
  label: readonly string[];
  /** Side of the square the map is fitted into, in pixels (default 224: 28x28 upscaled 8x). */
  box?: number;
  /** Font scale of the label (default 2). */
  fontScale?: number;
}

/**
 * One map as a panel: the label on top, then the map min-max scaled and upscaled by the largest
 * integer factor that fits `box` (28x28 -> 224x224), centred in the box. The panel is
 * `box + 2 * MARGIN` wide and `2 * MARGIN + lines * lineHeight(fontScale) + GAP + box` high.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelledMap } from "./image_grid.ts";
 * const panel = labelledMap({ values: new Float32Array(784), rows: 28, cols: 28 }, { label: ["ZEROS"] });
 * assert(panel.width === 240 && panel.height === 8 + 18 + 6 + 224 + 8);
 * ```
 */
export function labelledMap(map: MapView, options: LabelledMapOptions): RgbImage {
  const box = options.box ?? 224;
  const fontScale = options.fontScale ?? 2;
  const lines = options.label.flatMap((l) => wrapText(l, box, { scale: fontScale }));
  const labelHeight = lines.length * lineHeight(fontScale);
  const image = createImage(box + 2 * MARGIN, 2 * MARGIN + labelHeight + GAP + box);
  lines.forEach((line, i) =>
    drawText(image, line, { x: MARGIN, y: MARGIN + i * lineHeight(fontScale), scale: fontScale })
  );
  const scale = fitScale(map, box);
  const x = MARGIN + Math.floor((box - map.cols * scale) / 2);
  const y = MARGIN + labelHeight + GAP + Math.floor((box - map.rows * scale) / 2);
  drawMap(image, map, { x, y, scale });
  drawFrame(image, { x, y, width: map.cols * scale, height: map.rows * scale });
  return image;
}

/** One cell of {@linkcode imageGrid}. */
export interface GridCell extends MapView {
  /** A short caption above the cell (font scale 1), e.g. the channel index. */
  readonly label?: string;
}

/** Options of {@linkcode imageGrid}. */
export interface ImageGridOptions {
  /** Cells per row; default {@linkcode gridColumns}. */
  columns?: number;
  /** Side of the square each map is fitted into, in pixels (default 96). */
  cellBox?: number;
  /** Title lines above the grid (font scale 2). */
  title?: readonly string[];
  /** A small picture left of the title (e.g. the input digit), fitted into 2 * 28 pixels. */
  header?: MapView;
}

/**
 * Grid width for `n` maps: 8 columns from 16 maps on (32 -> 4x8, 64 -> 8x8), else ceil(sqrt(n)).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gridColumns } from "./image_grid.ts";
 * assert(gridColumns(32) === 8 && gridColumns(9) === 3);
 * ```
 */
export function gridColumns(n: number): number {
  return n >= 16 ? 8 : Math.max(1, Math.ceil(Math.sqrt(n)));
}

/**
 * Maps laid out in a grid, each min-max scaled on its own and upscaled to fit `cellBox`, with an
 * optional caption per cell and a title (and header picture) on top.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageGrid } from "./image_grid.ts";
 * const cells = Array.from({ length: 32 }, () => ({ values: new Float32Array(9), rows: 3, cols: 3 }));
 * const grid = imageGrid(cells, { title: ["32 FILTERS"] });
 * assert(grid.width === 2 * 8 + 8 * 96 + 7 * 6);
 * ```
 */
export function imageGrid(cells: readonly GridCell[], options: ImageGridOptions = {}): RgbImage {
  if (cells.length === 0) throw new RangeError("Cannot draw an image grid of no cells");
  const columns = options.columns ?? gridColumns(cells.length);
  const rows = Math.ceil(cells.length / columns);
  const box = options.cellBox ?? 96;
  const title = options.title ?? [];
  const headerSize = options.header === undefined ? 0 : 56;
  const captioned = cells.some((c) => c.label !== undefined);
  const captionHeight = captioned ? lineHeight(1) : 0;
  const titleHeight = Math.max(title.length * lineHeight(2), headerSize);
  const top = MARGIN + titleHeight + (titleHeight > 0 ? GAP : 0);
  const width = 2 * MARGIN + columns * box + (columns - 1) * GAP;
  const height = top + rows * (captionHeight + box) + (rows - 1) * GAP + MARGIN;
  const image = createImage(width, height);

  let textX = MARGIN;
  if (options.header !== undefined) {
    const h = options.header;
    const scale = fitScale(h, headerSize);
    drawMap(image, h, { x: MARGIN, y: MARGIN, scale });
    drawFrame(image, { x: MARGIN, y: MARGIN, width: h.cols * scale, height: h.rows * scale });
    textX += headerSize + 2 * GAP;
  }
  title.forEach((line, i) =>
    drawText(image, line, { x: textX, y: MARGIN + i * lineHeight(2), scale: 2 })
  );
  cells.forEach((cell, i) => {
    const cx = MARGIN + (i % columns) * (box + GAP);
    const cy = top + Math.floor(i / columns) * (captionHeight + box + GAP);
    if (cell.label !== undefined) drawText(image, cell.label, { x: cx, y: cy });
    const scale = fitScale(cell, box);
    const x = cx + Math.floor((box - cell.cols * scale) / 2);
    const y = cy + captionHeight + Math.floor((box - cell.rows * scale) / 2);
    drawMap(image, cell, { x, y, scale });
    drawFrame(image, { x, y, width: cell.cols * scale, height: cell.rows * scale });
  });
  return image;
}

/**
 * A picture with title lines (font scale 2) added above it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createImage, titled } from "./image_grid.ts";
 * assert(titled(createImage(300, 10), ["TITLE"]).height === 8 + 18 + 10);
 * ```
 */
export function titled(image: RgbImage, lines: readonly string[]): RgbImage {
  const wrapped = lines.flatMap((l) => wrapText(l, image.width - 2 * MARGIN, { scale: 2 }));
  const top = MARGIN + wrapped.length * lineHeight(2);
  const out = createImage(image.width, top + image.height);
  wrapped.forEach((line, i) =>
    drawText(out, line, { x: MARGIN, y: MARGIN + i * lineHeight(2), scale: 2 })
  );
  blit(out, image, 0, top);
  return out;
}

/**
 * Panels side by side on one raster, top-aligned, `GAP` apart, on a white background.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createImage, hconcat } from "./image_grid.ts";
 * assert(hconcat([createImage(10, 5), createImage(20, 8)]).width === 36);
 * ```
 */
export function hconcat(images: readonly RgbImage[]): RgbImage {
  const width = images.reduce((w, im) => w + im.width, 0) + GAP * Math.max(0, images.length - 1);
  const height = Math.max(0, ...images.map((im) => im.height));
  const out = createImage(width, height);
  let x0 = 0;
  for (const im of images) {
    blit(out, im, x0, 0);
    x0 += im.width + GAP;
  }
  return out;
}

/** Panels stacked top to bottom, left-aligned, `GAP` apart, on a white background. */
export function vconcat(images: readonly RgbImage[]): RgbImage {
  const height = images.reduce((h, im) => h + im.height, 0) + GAP * Math.max(0, images.length - 1);
  const width = Math.max(0, ...images.map((im) => im.width));
  const out = createImage(width, height);
  let y0 = 0;
  for (const im of images) {
    blit(out, im, 0, y0);
    y0 += im.height + GAP;
  }
  return out;
}

/** Copies `src` into `dst` with its top-left corner at (x, y) (no clipping needed by callers). */
function blit(dst: RgbImage, src: RgbImage, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) {
    const from = r * src.width * 3;
    dst.data.set(src.data.subarray(from, from + src.width * 3), ((y + r) * dst.width + x) * 3);
  }
}
