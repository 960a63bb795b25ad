import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import {
  activationGridImage,
  channelMaps,
  convActivations,
  filterGridImage,
  kernelMaps,
  layerOutputs,
  writeVisualizations,
} from "../../pipelines/activation_maps.ts";
import { GAP, lineHeight, MARGIN } from "../../pipelines/image_grid.ts";
import { mnistCnn, mnistDense } from "../../pipelines/models.ts";
import { clearSession } from "../../layers/layer.ts";

function digitLike(): Float32Array {
  // a vertical bar in columns 12-15, rows 4-23
  const x = new Float32Array(784);
  for (let r = 4; r < 24; r++) for (let c = 12; c < 16; c++) x[r * 28 + c] = 1;
  return x;
}

Deno.test("channelMaps splits NHWC [1, 2, 2, 3] into 3 maps of 2x2, row-major", () => {
  // value = 100 * row + 10 * col + channel
  const data = Float32Array.from({ length: 12 }, (_, i) => {
    const ch = i % 3, p = Math.floor(i / 3);
    return 100 * Math.floor(p / 2) + 10 * (p % 2) + ch;
  });
  const maps = channelMaps({ shape: [1, 2, 2, 3], data });
  assert.equal(maps.length, 3);
  assert.deepEqual([...maps[2]!.values], [2, 12, 102, 112]);
  assert.throws(() => channelMaps({ shape: [4, 3], data: new Float32Array(12) }), TypeError);
});

Deno.test("kernelMaps reads HWIO [3, 3, 1, 2] as 2 filters of 3x3 (kh the row) and averages input channels", () => {
  // w[kh, kw, 0, co] = 10 * kh + kw + 100 * co
  const value = Float32Array.from({ length: 18 }, (_, i) => {
    const co = i % 2, tap = Math.floor(i / 2);
    return 10 * Math.floor(tap / 3) + (tap % 3) + 100 * co;
  });
  const maps = kernelMaps({ shape: [3, 3, 1, 2], value });
  assert.deepEqual([...maps[1]!.values], [100, 101, 102, 110, 111, 112, 120, 121, 122]);
  const two = kernelMaps({ shape: [1, 1, 2, 1], value: Float32Array.of(1, 3) });
  assert.deepEqual([...two[0]!.values], [2]);
});

Deno.test("layerOutputs of the CNN: shapes 26, 24, 12, 10, 8, 4, 1024, 64, 10, and the last equals predict", () => {
  const model = mnistCnn({ seed: 3 });
  const x = { shape: [1, 28, 28, 1], data: digitLike() };
  const outputs = layerOutputs(model, x);
  assert.deepEqual(outputs.map((o) => o.output.shape.join("x")), [
    "1x26x26x32",
    "1x24x24x32",
    "1x12x12x32",
    "1x10x10x64",
    "1x8x8x64",
    "1x4x4x64",
    "1x1024",
    "1x64",
    "1x10",
  ]);
  const predicted = model.predict(x);
  assert.deepEqual([...outputs.at(-1)!.output.data], [...predicted.data]);
  // outputs are copies: the first layer's output is not overwritten by a second pass
  const first = outputs[0]!.output.data.slice();
  layerOutputs(model, { shape: [1, 28, 28, 1], data: new Float32Array(784) });
  assert.deepEqual(outputs[0]!.output.data, first);
  assert.throws(
    () => layerOutputs(model, { shape: [1, 784], data: new Float32Array(784) }),
    TypeError,
  );
});

Deno.test("convActivations keeps the 4 conv layers; a Dense-only model is refused", () => {
  const model = mnistCnn({ seed: 3 });
  const acts = convActivations(model, { shape: [1, 28, 28, 1], data: digitLike() });
  assert.deepEqual(acts.map((a) => a.output.shape[3]), [32, 32, 64, 64]);
  assert.throws(
    () => convActivations(mnistDense(), { shape: [1, 784], data: new Float32Array(784) }),
    /no Conv2D/,
  );
  assert.throws(() => filterGridImage(mnistDense()), /no Conv2D/);
});

Deno.test("writeVisualizations writes input, filters (4x8 grid) and 4 activation grids (4x8, 4x8, 8x8, 8x8) that decode to their sizes", async () => {
  clearSession();
  const model = mnistCnn({ seed: 4 });
  const dir = await Deno.makeTempDir({ prefix: "activation_maps_test_" });
  try {
    const image = { rows: 28, cols: 28, values: digitLike() };
    const written = await writeVisualizations(model, dir, { image, label: 1, index: 2 });
    const names = written.map((p) => p.slice(dir.length + 1));
    assert.deepEqual(names, [
      "input.png",
      "filters.png",
      "activations_conv2d.png",
      "activations_conv2d_1.png",
      "activations_conv2d_2.png",
      "activations_conv2d_3.png",
    ]);
    const width = 2 * MARGIN + 8 * 96 + 7 * GAP;
    const cell = lineHeight(1) + 96;
    const gridHeight = (titleHeight: number, rows: number) =>
      MARGIN + titleHeight + GAP + rows * cell + (rows - 1) * GAP + MARGIN;
    const expected: Record<string, [number, number]> = {
      "input.png": [240, 2 * MARGIN + 2 * lineHeight(2) + GAP + 224],
      "filters.png": [width, gridHeight(2 * lineHeight(2), 4)],
      "activations_conv2d.png": [width, gridHeight(56, 4)],
      "activations_conv2d_1.png": [width, gridHeight(56, 4)],
      "activations_conv2d_2.png": [width, gridHeight(56, 8)],
      "activations_conv2d_3.png": [width, gridHeight(56, 8)],
    };
    for (const [name, [w, h]] of Object.entries(expected)) {
      const png = decode(await Deno.readFile(join(dir, name)));
      assert.deepEqual([png.width, png.height], [w, h], name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an activation grid draws each map min-max scaled: a map's largest value is white", () => {
  const model = mnistCnn({ seed: 5 });
  const [first] = convActivations(model, { shape: [1, 28, 28, 1], data: digitLike() });
  const image = activationGridImage(first!, {
    image: { rows: 28, cols: 28, values: digitLike() },
    label: 1,
    index: 0,
  });
  // some pixel is pure white and some pure black inside the grid (below the title)
  const top = MARGIN + 56 + GAP;
  const body = image.data.subarray(top * image.width * 3);
  assert.ok(body.includes(255) && body.includes(0));
});
