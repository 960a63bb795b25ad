import assert from "node:assert/strict";
import {
  createImage,
  drawMap,
  drawText,
  fitScale,
  GAP,
  gridColumns,
  hconcat,
  imageGrid,
  labelledMap,
  lineHeight,
  MARGIN,
  textWidth,
  titled,
  toGray,
  vconcat,
  wrapText,
} from "../../pipelines/image_grid.ts";
import type { RgbImage } from "../../pipelines/png_encode.ts";

const red = (im: RgbImage, x: number, y: number) => im.data[(y * im.width + x) * 3]!;

Deno.test("toGray min-max scales to 0..255; a constant map is black when zero, mid-gray otherwise", () => {
  assert.deepEqual([...toGray([-2, 0, 2, 1])], [0, 128, 255, 191]);
  assert.deepEqual([...toGray([0, 0])], [0, 0]);
  assert.deepEqual([...toGray([0.4, 0.4])], [128, 128]);
  assert.deepEqual([...toGray([0, 5, 10], { min: 0, max: 5 })], [0, 255, 255]);
});

Deno.test("drawMap upscales 2x3 by 4 with nearest-neighbour, keeping the top row on top", () => {
  const im = createImage(12, 8);
  // the top-left value is the largest (white), the bottom-right the smallest (black)
  drawMap(im, { rows: 2, cols: 3, values: [6, 3, 3, 3, 3, 0] }, { x: 0, y: 0, scale: 4 });
  assert.equal(red(im, 0, 0), 255);
  assert.equal(red(im, 3, 3), 255);
  assert.equal(red(im, 4, 0), 128);
  assert.equal(red(im, 11, 7), 0);
  assert.equal(red(im, 8, 7), 0);
  assert.equal(red(im, 7, 7), 128);
});

Deno.test("drawText draws dark pixels within its width and 7 * scale rows; lower case reads as upper case", () => {
  const a = createImage(textWidth("A1", 2), 14);
  const b = createImage(textWidth("a1", 2), 14);
  drawText(a, "A1", { x: 0, y: 0, scale: 2 });
  drawText(b, "a1", { x: 0, y: 0, scale: 2 });
  assert.equal(a.width, 22);
  assert.deepEqual(a.data, b.data);
  assert.ok(a.data.some((v) => v < 100));
  assert.equal(red(a, 0, 0), 255); // "A" starts with a blank corner
  assert.equal(red(a, 0, 6), 32); // its left leg
});

Deno.test("wrapText breaks at spaces to fit, and cuts words longer than a line", () => {
  assert.deepEqual(wrapText("one two three", textWidth("one two", 1)), ["one two", "three"]);
  assert.deepEqual(wrapText("abcdefgh", textWidth("abc", 1)), ["abc", "def", "gh"]);
  assert.deepEqual(wrapText("", 100), [""]);
});

Deno.test("labelledMap fits 28x28 into 224x224 and 7x7 at 32x: panel 240 wide, label lines + gap + box high", () => {
  assert.equal(fitScale({ rows: 28, cols: 28 }, 224), 8);
  assert.equal(fitScale({ rows: 7, cols: 7 }, 224), 32);
  assert.equal(fitScale({ rows: 26, cols: 26 }, 224), 8);
  const panel = labelledMap({ rows: 28, cols: 28, values: new Float32Array(784).fill(1) }, {
    label: ["line one", "line two"],
  });
  assert.equal(panel.width, 224 + 2 * MARGIN);
  assert.equal(panel.height, 2 * MARGIN + 2 * lineHeight(2) + GAP + 224);
});

Deno.test("imageGrid lays 32 maps out as 4 rows of 8 and 64 as 8x8", () => {
  assert.equal(gridColumns(32), 8);
  assert.equal(gridColumns(64), 8);
  assert.equal(gridColumns(9), 3);
  const cells = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => ({ rows: 3, cols: 3, values: new Float32Array(9), label: `${i}` }),
    );
  const g32 = imageGrid(cells(32), { title: ["T"] });
  const g64 = imageGrid(cells(64), { title: ["T"] });
  const width = 2 * MARGIN + 8 * 96 + 7 * GAP;
  assert.equal(g32.width, width);
  assert.equal(g64.width, width);
  const top = MARGIN + lineHeight(2) + GAP;
  const cellH = lineHeight(1) + 96;
  assert.equal(g32.height, top + 4 * cellH + 3 * GAP + MARGIN);
  assert.equal(g64.height, top + 8 * cellH + 7 * GAP + MARGIN);
  assert.throws(() => imageGrid([]), RangeError);
});

Deno.test("hconcat, vconcat and titled add up sizes with GAP between panels", () => {
  const a = createImage(10, 5), b = createImage(20, 8);
  assert.deepEqual([hconcat([a, b]).width, hconcat([a, b]).height], [30 + GAP, 8]);
  assert.deepEqual([vconcat([a, b]).width, vconcat([a, b]).height], [20, 13 + GAP]);
  assert.equal(titled(createImage(400, 10), ["x"]).height, MARGIN + lineHeight(2) + 10);
});
