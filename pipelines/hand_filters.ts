/**
 * The classic hand-designed filters of the lecture, applied with the engine's own convolution
 * kernel (`conv2dForward` with `conv2dInfo`), to show what a convolution computes before any
 * network learns its filters:
 *
 * - a plus-shape detector (+1 on the plus, -1 on the corners: it answers 5 on a perfect plus);
 * - a horizontal-line detector (rows -2 -2 -2 / 1 1 1 / -2 -2 -2: a bright row between two dark
 *   ones) and a vertical-line detector (its transpose);
 * - the 5x5 Gaussian blur (1 4 7 4 1 / 4 16 26 16 4 / 7 26 41 26 7 / 4 16 26 16 4 / 1 4 7 4 1,
 *   divided by 273, so its weights sum to 1).
 *
 * The small worked example is {@linkcode PLUS_7X7}: a 7x7 image holding a plus sign whose arms
 * are 5 pixels long (row 3 from column 1 to 5 and column 3 from row 1 to 5, zero-based), 1 on the
 * plus and 0 elsewhere.
 *
 * @module
 */

import { join } from "node:path";
import { type Conv2DInfo, conv2dInfo, type Padding } from "../engine/conv_info.ts";
import { conv2dForward } from "../engine/kernels/conv2d.ts";
import { hconcat, labelledMap, mapRange, type MapView, titled, vconcat } from "./image_grid.ts";
import { type RgbImage, writePng } from "./png_encode.ts";

/** A single-channel filter: `rows * cols` weights, row-major, top row first. */
export interface HandFilter {
  /** A file-name friendly name, e.g. `horizontal`. */
  readonly name: string;
  /** What it is called in the lecture, e.g. `horizontal line`. */
  readonly title: string;
  /** Number of weight rows (filter height). */
  readonly rows: number;
  /** Number of weight columns (filter width). */
  readonly cols: number;
  /** The weights actually applied (the Gaussian's already divided by 273). */
  readonly weights: Float32Array;
  /** The integer weights as printed in the lecture, and what they are divided by (1 if not). */
  readonly integerWeights: readonly number[];
  /** What the integer weights are divided by (1 if not divided). */
  readonly divisor: number;
}

function handFilter(
  name: string,
  title: string,
  rows: readonly (readonly number[])[],
  divisor = 1,
): HandFilter {
  const integerWeights = rows.flat();
  return {
    name,
    title,
    rows: rows.length,
    cols: rows[0]!.length,
    weights: Float32Array.from(integerWeights, (w) => w / divisor),
    integerWeights,
    divisor,
  };
}

/** The plus-shape detector: +1 on the plus, -1 on the four corners. */
export const PLUS_FILTER: HandFilter = handFilter("plus", "plus shape", [
  [-1, 1, -1],
  [1, 1, 1],
  [-1, 1, -1],
]);

/** The horizontal-line detector: a bright row between two dark rows. */
export const HORIZONTAL_FILTER: HandFilter = handFilter("horizontal", "horizontal line", [
  [-2, -2, -2],
  [1, 1, 1],
  [-2, -2, -2],
]);

/** The vertical-line detector: the transpose of the horizontal one. */
export const VERTICAL_FILTER: HandFilter = handFilter("vertical", "vertical line", [
  [-2, 1, -2],
  [-2, 1, -2],
  [-2, 1, -2],
]);

/** The 5x5 Gaussian blur, its integer weights divided by 273. */
export const GAUSSIAN_FILTER: HandFilter = handFilter("gaussian", "gaussian blur 5x5", [
  [1, 4, 7, 4, 1],
  [4, 16, 26, 16, 4],
  [7, 26, 41, 26, 7],
  [4, 16, 26, 16, 4],
  [1, 4, 7, 4, 1],
], 273);

/** The four filters, in lecture order. */
export const HAND_FILTERS: readonly HandFilter[] = [
  PLUS_FILTER,
  HORIZONTAL_FILTER,
  VERTICAL_FILTER,
  GAUSSIAN_FILTER,
];

/** The 7x7 worked example: a plus sign, 1 on the plus and 0 elsewhere. */
export const PLUS_7X7: MapView = {
  rows: 7,
  cols: 7,
  values: Float32Array.from([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
  ].flat()),
};

/** How a filter slides: its stride and Keras padding mode. */
export interface FilterSetting {
  /** Step between window positions, along both axes. */
  readonly stride: number;
  /** Keras padding mode, `valid` or `same`. */
  readonly padding: Padding;
}

/** The three settings the lecture compares: stride 1, stride 2 (both `valid`), and `same`. */
export const FILTER_SETTINGS: readonly FilterSetting[] = [
  { stride: 1, padding: "valid" },
  { stride: 2, padding: "valid" },
  { stride: 1, padding: "same" },
];

/** A filter's response map and the shape arithmetic that produced it. */
export interface FilterResponse extends MapView {
  /** The response values, row-major (outH, outW). */
  readonly values: Float32Array;
  /** The shape arithmetic of the convolution that produced it. */
  readonly info: Conv2DInfo;
}

/**
 * Convolves a one-channel image with a filter through the engine's conv kernel (no bias), as a
 * `Conv2D(filters=1)` layer with these weights would: the image is `[1, H, W, 1]`, the filter the
 * HWIO kernel `[kH, kW, 1, 1]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyFilter, PLUS_7X7, PLUS_FILTER } from "./hand_filters.ts";
 * const y = applyFilter(PLUS_7X7, PLUS_FILTER, { stride: 1, padding: "valid" });
 * assert(y.rows === 5 && y.values[2 * 5 + 2] === 5); // the plus's centre scores 5
 * ```
 */
export function applyFilter(
  image: MapView,
  filter: HandFilter,
  setting: FilterSetting,
): FilterResponse {
  if (image.values.length !== image.rows * image.cols) {
    throw new TypeError(
      `Cannot filter a ${image.rows}x${image.cols} image of ${image.values.length} values: expected ${
        image.rows * image.cols
      }`,
    );
  }
  const info = conv2dInfo([1, image.rows, image.cols, 1], {
    kernelSize: [filter.rows, filter.cols],
    strides: [setting.stride, setting.stride],
    padding: setting.padding,
    outChannels: 1,
  });
  if (info.outH <= 0 || info.outW <= 0) {
    throw new RangeError(
      `Cannot apply the ${filter.rows}x${filter.cols} ${filter.title} filter to a ${image.rows}x${image.cols} image with padding "${setting.padding}": the output would be empty`,
    );
  }
  // x is (1, H, W, 1); w is (kH, kW, 1, 1); y is (1, outH, outW, 1)
  const x = Float32Array.from(image.values);
  const y = new Float32Array(info.outH * info.outW);
  conv2dForward(y, x, filter.weights, null, info);
  return { rows: info.outH, cols: info.outW, values: y, info };
}

/**
 * An 8-bit image (0..255, row-major) as a map scaled to [0, 1], as the networks see it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageToMap } from "./hand_filters.ts";
 * const map = imageToMap(Uint8Array.of(0, 255, 51, 0), { rows: 2, cols: 2 });
 * assert(map.values[1] === 1 && Math.abs(map.values[2]! - 0.2) < 1e-6);
 * ```
 */
export function imageToMap(
  pixels: Uint8Array,
  size: { rows: number; cols: number },
): MapView & { values: Float32Array } {
  const { rows, cols } = size;
  return { rows, cols, values: Float32Array.from(pixels.subarray(0, rows * cols), (p) => p / 255) };
}

/**
 * A map as aligned columns of numbers, one text line per row (for the terminal).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMap } from "./hand_filters.ts";
 * const lines = formatMap({ rows: 2, cols: 2, values: [1, -2.5, 0, 10] }, { digits: 1 });
 * assert(lines[0] === "   1.0  -2.5" && lines[1] === "   0.0  10.0");
 * ```
 */
export function formatMap(map: MapView, options: { digits?: number } = {}): string[] {
  const digits = options.digits ?? 0;
  const cells = Array.from(map.values, (v) => {
    const s = (Object.is(v, -0) ? 0 : v).toFixed(digits);
    return s === `-${(0).toFixed(digits)}` ? s.slice(1) : s;
  });
  const width = Math.max(...cells.map((c) => c.length)) + 2;
  const lines: string[] = [];
  for (let r = 0; r < map.rows; r++) {
    lines.push(
      cells.slice(r * map.cols, (r + 1) * map.cols).map((c) => c.padStart(width)).join(""),
    );
  }
  return lines;
}

/** The filter's weights as the lecture prints them, e.g. `1 4 7 4 1 / ... (divided by 273)`. */
export function formatFilter(filter: HandFilter): string[] {
  const lines = formatMap({
    rows: filter.rows,
    cols: filter.cols,
    values: filter.integerWeights,
  });
  if (filter.divisor !== 1) lines.push(`  (divided by ${filter.divisor})`);
  return lines;
}

/** A file-name friendly name of a setting: `s1_valid`, `s2_valid`, `s1_same`. */
export function settingName(setting: FilterSetting): string {
  return `s${setting.stride}_${setting.padding}`;
}

function formatNumber(x: number): string {
  const s = Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2).replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}

/** The panel of one response map: filter, setting and size, and the value range (black..white). */
export function responsePanel(
  response: FilterResponse,
  filter: HandFilter,
  setting: FilterSetting,
): RgbImage {
  const { min, max } = mapRange(response.values);
  return labelledMap(response, {
    label: [
      filter.title,
      `s=${setting.stride} ${setting.padding}: ${response.rows}x${response.cols}`,
      `${formatNumber(min)} .. ${formatNumber(max)}`,
    ],
  });
}

/** The panel of an input image, with a two-line caption and its size. */
export function inputPanel(image: MapView, caption: readonly [string, string]): RgbImage {
  return labelledMap(image, { label: [...caption, `${image.rows}x${image.cols}`] });
}

/** Options of {@linkcode writeFilterPictures}. */
export interface FilterPicturesOptions {
  /** Two caption lines for the input, e.g. `["test #0", "label 7"]`. */
  caption: readonly [string, string];
  /** Filters to apply (default {@linkcode HAND_FILTERS}). */
  filters?: readonly HandFilter[];
  /** Settings to apply them with (default {@linkcode FILTER_SETTINGS}). */
  settings?: readonly FilterSetting[];
}

/**
 * Applies every filter with every setting to `image` and writes into `dir`: `input.png`, one
 * `<filter>_<setting>.png` per response map (e.g. `horizontal_s2_valid.png`), each a
 * {@linkcode labelledMap} panel (maps upscaled to fit 224x224, min-max scaled: black is the
 * lowest response, white the highest), and `overview.png`, one row per filter: the input, then
 * its responses. Returns the paths written.
 *
 * @example
 * ```ts ignore
 * import { PLUS_7X7, writeFilterPictures } from "./hand_filters.ts";
 * await writeFilterPictures(PLUS_7X7, "out/filters/plus7x7", { caption: ["7x7 example", "a plus sign"] });
 * ```
 */
export async function writeFilterPictures(
  image: MapView,
  dir: string,
  options: FilterPicturesOptions,
): Promise<string[]> {
  const filters = options.filters ?? HAND_FILTERS;
  const settings = options.settings ?? FILTER_SETTINGS;
  const written: string[] = [];
  const save = async (name: string, picture: RgbImage) => {
    const path = join(dir, name);
    await writePng(path, picture);
    written.push(path);
  };
  const input = inputPanel(image, options.caption);
  await save("input.png", input);
  const rows: RgbImage[] = [];
  for (const filter of filters) {
    const panels = [input];
    for (const setting of settings) {
      const panel = responsePanel(applyFilter(image, filter, setting), filter, setting);
      await save(`${filter.name}_${settingName(setting)}.png`, panel);
      panels.push(panel);
    }
    rows.push(hconcat(panels));
  }
  await save(
    "overview.png",
    titled(vconcat(rows), [
      `${
        options.caption.join(", ")
      }: the input, then each filter with stride 1, stride 2 and same padding.`,
      "Each map is scaled on its own: black = its lowest value, white = its highest.",
    ]),
  );
  return written;
}
