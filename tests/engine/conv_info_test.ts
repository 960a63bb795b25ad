import assert from "node:assert/strict";
import { conv2dInfo, convOutputLength } from "../../engine/conv_info.ts";

Deno.test("convOutputLength valid is floor((N-F)/S)+1 for N=28 F=3 S=1 -> 26", () => {
  assert.deepEqual(convOutputLength(28, 3, 1, "valid"), { out: 26, padBefore: 0, padAfter: 0 });
});

Deno.test("convOutputLength valid pooling N=24 F=2 S=2 -> 12 and N=5 F=2 S=2 -> 2", () => {
  assert.deepEqual(convOutputLength(24, 2, 2, "valid"), { out: 12, padBefore: 0, padAfter: 0 });
  assert.deepEqual(convOutputLength(5, 2, 2, "valid"), { out: 2, padBefore: 0, padAfter: 0 });
});

Deno.test("convOutputLength valid matches floor((N-F)/S)+1 over N=1..12 F=1..5 S=1..3", () => {
  for (let n = 1; n <= 12; n++) {
    for (let f = 1; f <= 5; f++) {
      for (let s = 1; s <= 3; s++) {
        const expected = n >= f ? Math.floor((n - f) / s) + 1 : 0;
        assert.equal(convOutputLength(n, f, s, "valid").out, expected, `N=${n} F=${f} S=${s}`);
      }
    }
  }
});

Deno.test("convOutputLength valid with N=2 < F=3 gives an empty output", () => {
  assert.equal(convOutputLength(2, 3, 1, "valid").out, 0);
});

Deno.test("convOutputLength same N=7 F=3 S=2 -> out 4, pad 1 before and 1 after", () => {
  assert.deepEqual(convOutputLength(7, 3, 2, "same"), { out: 4, padBefore: 1, padAfter: 1 });
});

Deno.test("convOutputLength same N=6 F=3 S=2 -> out 3, pad 0 before and 1 after (odd pixel last)", () => {
  assert.deepEqual(convOutputLength(6, 3, 2, "same"), { out: 3, padBefore: 0, padAfter: 1 });
});

Deno.test("convOutputLength same N=28 F=3 S=1 -> out 28, pad 1/1; F=2 S=1 -> pad 0/1", () => {
  assert.deepEqual(convOutputLength(28, 3, 1, "same"), { out: 28, padBefore: 1, padAfter: 1 });
  assert.deepEqual(convOutputLength(28, 2, 1, "same"), { out: 28, padBefore: 0, padAfter: 1 });
});

Deno.test("convOutputLength same N=5 F=1 S=3 -> out 2 with no padding (total clamps at 0)", () => {
  // (2-1)*3 + 1 - 5 = -1 -> 0
  assert.deepEqual(convOutputLength(5, 1, 3, "same"), { out: 2, padBefore: 0, padAfter: 0 });
});

Deno.test("convOutputLength same matches Keras over N=1..12 F=1..5 S=1..3", () => {
  for (let n = 1; n <= 12; n++) {
    for (let f = 1; f <= 5; f++) {
      for (let s = 1; s <= 3; s++) {
        const out = Math.ceil(n / s);
        const total = Math.max((out - 1) * s + f - n, 0);
        const got = convOutputLength(n, f, s, "same");
        assert.equal(got.out, out, `N=${n} F=${f} S=${s}`);
        assert.equal(got.padBefore + got.padAfter, total, `N=${n} F=${f} S=${s}`);
        assert.equal(got.padBefore, Math.floor(total / 2), `N=${n} F=${f} S=${s}`);
      }
    }
  }
});

Deno.test("conv2dInfo for x=[2,7,6,3] k=3 s=2 same filters=5 fills every field", () => {
  const info = conv2dInfo([2, 7, 6, 3], {
    kernelSize: [3, 3],
    strides: [2, 2],
    padding: "same",
    outChannels: 5,
  });
  assert.deepEqual(info, {
    batch: 2,
    inH: 7,
    inW: 6,
    inC: 3,
    outH: 4,
    outW: 3,
    outC: 5,
    kH: 3,
    kW: 3,
    strideH: 2,
    strideW: 2,
    padTop: 1,
    padLeft: 0,
    padBottom: 1,
    padRight: 1,
  });
});

Deno.test("conv2dInfo for x=[1,28,28,1] k=3x2 s=[1,2] valid uses each axis's own kernel and stride", () => {
  const info = conv2dInfo([1, 28, 28, 1], {
    kernelSize: [3, 2],
    strides: [1, 2],
    padding: "valid",
    outChannels: 32,
  });
  assert.equal(info.outH, 26);
  assert.equal(info.outW, 14);
  assert.equal(info.outC, 32);
  assert.equal(info.padTop + info.padBottom + info.padLeft + info.padRight, 0);
});

Deno.test("conv2dInfo rejects an input that is not rank 4 ([28,28,1])", () => {
  assert.throws(
    () =>
      conv2dInfo([28, 28, 1], {
        kernelSize: [3, 3],
        strides: [1, 1],
        padding: "valid",
        outChannels: 1,
      }),
    (e: unknown) => e instanceof TypeError && /rank 4/.test(e.message) && /28,28,1/.test(e.message),
  );
});
