import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import {
  applyFilter,
  FILTER_SETTINGS,
  formatFilter,
  formatMap,
  GAUSSIAN_FILTER,
  HAND_FILTERS,
  HORIZONTAL_FILTER,
  imageToMap,
  PLUS_7X7,
  PLUS_FILTER,
  settingName,
  VERTICAL_FILTER,
  writeFilterPictures,
} from "../../pipelines/hand_filters.ts";

// The 7x7 plus (1 on row 3, columns 1-5, and on column 3, rows 1-5) worked by hand: output (r, c)
// of a valid 3x3 stride-1 convolution sums the filter against rows r..r+2, columns c..c+2.

const PLUS_VALID: number[][] = [
  [0, 0, 2, 0, 0],
  [0, -1, 1, -1, 0],
  [2, 1, 5, 1, 2],
  [0, -1, 1, -1, 0],
  [0, 0, 2, 0, 0],
];

// e.g. (1, 0): top row 1 and middle row 2 see nothing in columns 0-2, bottom row 3 sees two
// pixels: -2 * 2 = -4. (2, 0): middle row 3 sees two pixels (+2), the rows around it none.
// (2, 2): middle row 3 sees three (+3), rows 2 and 4 one each (-2 - 2): -1.
const HORIZONTAL_VALID: number[][] = [
  [0, -1, -1, -1, 0],
  [-4, -7, -7, -7, -4],
  [2, -1, -1, -1, 2],
  [-4, -7, -7, -7, -4],
  [0, -1, -1, -1, 0],
];

// 'same' pads one ring of zeros: the corner output (0, 0) sees only input (0..1, 0..1), all 0;
// (3, 0) sees row 3's pixel at column 1 in the middle row (+1), (0, 3) sees column 3's pixel
// at row 1 in the bottom row (-2) with rows 0 (the padding row above is zero)...
const HORIZONTAL_SAME: number[][] = [
  [0, 0, -2, -2, -2, 0, 0],
  [0, 0, -1, -1, -1, 0, 0],
  [-2, -4, -7, -7, -7, -4, -2],
  [1, 2, -1, -1, -1, 2, 1],
  [-2, -4, -7, -7, -7, -4, -2],
  [0, 0, -1, -1, -1, 0, 0],
  [0, 0, -2, -2, -2, 0, 0],
];

const transpose = (m: number[][]) => m[0]!.map((_, c) => m.map((row) => row[c]!));
const flat = (m: number[][]) => m.flat();

Deno.test("hand filters hold the lecture's weights: plus, horizontal -2/1/-2 rows, its transpose, gaussian 5x5 / 273", () => {
  assert.deepEqual(HAND_FILTERS.map((f) => f.name), ["plus", "horizontal", "vertical", "gaussian"]);
  assert.deepEqual([...PLUS_FILTER.integerWeights], [-1, 1, -1, 1, 1, 1, -1, 1, -1]);
  assert.deepEqual([...HORIZONTAL_FILTER.weights], [-2, -2, -2, 1, 1, 1, -2, -2, -2]);
  assert.deepEqual(
    [...VERTICAL_FILTER.weights],
    flat(transpose([[-2, -2, -2], [1, 1, 1], [-2, -2, -2]])),
  );
  assert.deepEqual(GAUSSIAN_FILTER.integerWeights.slice(10, 15), [7, 26, 41, 26, 7]);
  assert.equal(GAUSSIAN_FILTER.integerWeights.reduce((a, b) => a + b, 0), 273);
  assert.ok(Math.abs(GAUSSIAN_FILTER.weights.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.ok(formatFilter(GAUSSIAN_FILTER).at(-1)!.includes("273"));
});

Deno.test("plus filter on the 7x7 plus, valid stride 1 -> 5x5 computed by hand, 5 at the centre", () => {
  const y = applyFilter(PLUS_7X7, PLUS_FILTER, { stride: 1, padding: "valid" });
  assert.equal(y.rows, 5);
  assert.equal(y.cols, 5);
  assert.deepEqual([...y.values], flat(PLUS_VALID));
});

Deno.test("horizontal-line filter on the 7x7 plus: valid 5x5 and same 7x7 computed by hand", () => {
  const valid = applyFilter(PLUS_7X7, HORIZONTAL_FILTER, { stride: 1, padding: "valid" });
  assert.deepEqual([...valid.values], flat(HORIZONTAL_VALID));
  const same = applyFilter(PLUS_7X7, HORIZONTAL_FILTER, { stride: 1, padding: "same" });
  assert.equal(same.rows, 7);
  assert.equal(same.info.padTop, 1);
  assert.equal(same.info.padLeft, 1);
  assert.deepEqual([...same.values], flat(HORIZONTAL_SAME));
});

Deno.test("vertical-line filter on the (symmetric) 7x7 plus gives the transpose of the horizontal response", () => {
  const y = applyFilter(PLUS_7X7, VERTICAL_FILTER, { stride: 1, padding: "valid" });
  assert.deepEqual([...y.values], flat(transpose(HORIZONTAL_VALID)));
});

Deno.test("stride 2 on the 7x7 plus: (7 - 3) / 2 + 1 = 3, every other output of stride 1", () => {
  for (
    const [filter, full] of [[PLUS_FILTER, PLUS_VALID], [
      HORIZONTAL_FILTER,
      HORIZONTAL_VALID,
    ]] as const
  ) {
    const y = applyFilter(PLUS_7X7, filter, { stride: 2, padding: "valid" });
    assert.equal(y.rows, 3);
    const expected = [0, 2, 4].flatMap((r) => [0, 2, 4].map((c) => full[r]![c]!));
    assert.deepEqual([...y.values], expected, filter.name);
  }
});

Deno.test("gaussian 5x5 on the 7x7 plus: valid 3x3 centre (41 + 4*26 + 4*7) / 273, stride 2 -> 2x2, same -> 7x7 with 2 pixels of padding", () => {
  const valid = applyFilter(PLUS_7X7, GAUSSIAN_FILTER, { stride: 1, padding: "valid" });
  assert.equal(valid.rows, 3);
  assert.ok(Math.abs(valid.values[4]! - 173 / 273) < 1e-6);
  // corner (0, 0): the window over rows 0-4, columns 0-4 holds the plus pixels (3,1) (3,2)
  // (3,3) (3,4) (1,3) (2,3) (4,3), under weights 16 + 26 + 16 + 4 + 16 + 26 + 4 = 108
  assert.ok(Math.abs(valid.values[0]! - 108 / 273) < 1e-6);
  // (0, 1): row 3 under filter row 3 (4 + 16 + 26 + 16 + 4), column 3 under filter column 2
  // at rows 1, 2, 4 (26 + 41 + 7): 140
  assert.ok(Math.abs(valid.values[1]! - 140 / 273) < 1e-6);
  const stride2 = applyFilter(PLUS_7X7, GAUSSIAN_FILTER, { stride: 2, padding: "valid" });
  assert.equal(stride2.rows, 2);
  assert.deepEqual([...stride2.values], [0, 2, 6, 8].map((i) => valid.values[i]!));
  const same = applyFilter(PLUS_7X7, GAUSSIAN_FILTER, { stride: 1, padding: "same" });
  assert.equal(same.rows, 7);
  assert.equal(same.info.padTop, 2);
  assert.ok(Math.abs(same.values[3 * 7 + 3]! - 173 / 273) < 1e-6);
});

Deno.test("applyFilter refuses a filter larger than a valid-padded image", () => {
  const tiny = { rows: 2, cols: 2, values: new Float32Array(4) };
  assert.throws(() => applyFilter(tiny, PLUS_FILTER, { stride: 1, padding: "valid" }), RangeError);
});

Deno.test("formatMap aligns numbers in columns and prints -0 as 0", () => {
  assert.deepEqual(formatMap({ rows: 1, cols: 3, values: [-0, 5, -12] }), ["    0    5  -12"]);
});

Deno.test("writeFilterPictures writes input, 4 filters x 3 settings and an overview, each decoding to its size (28x28 upscaled to 224)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hand_filters_test_" });
  try {
    const pixels = new Uint8Array(784).map((_, i) => (i % 28 === 14 ? 255 : 0));
    const image = imageToMap(pixels, { rows: 28, cols: 28 });
    const written = await writeFilterPictures(image, dir, { caption: ["test #0", "label 1"] });
    assert.equal(written.length, 1 + 4 * 3 + 1);
    for (const f of HAND_FILTERS) {
      for (const s of FILTER_SETTINGS) {
        assert.ok(written.includes(join(dir, `${f.name}_${settingName(s)}.png`)));
      }
    }
    for (const path of written.filter((p) => !p.endsWith("overview.png"))) {
      const png = decode(await Deno.readFile(path));
      // 224 box + 2 * 8 margin; 3 label lines of 18 px + 6 px gap + 2 * 8 margin
      assert.equal(png.width, 240, path);
      assert.equal(png.height, 8 + 3 * 18 + 6 + 224 + 8, path);
    }
    const overview = decode(await Deno.readFile(join(dir, "overview.png")));
    assert.equal(overview.width, 4 * 240 + 3 * 6);
    assert.ok(overview.height > 4 * 300);
    // the input panel's map: the vertical line at column 14 is white, column 0 black, upright
    const input = decode(await Deno.readFile(join(dir, "input.png")));
    const at = (x: number, y: number) => input.data[(y * input.width + x) * input.channels]!;
    const top = 8 + 3 * 18 + 6;
    assert.equal(at(8 + 14 * 8 + 3, top + 100), 255);
    assert.equal(at(8 + 3, top + 100), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
