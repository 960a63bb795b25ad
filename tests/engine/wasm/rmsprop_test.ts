/**
 * RMSprop on the wasm backend (`rmspropUpdate`, the `rmsprop` kernel in float64 SIMD) against
 * the TypeScript optimizer: bitwise the same values and velocity, on 1 and 2 participants, over
 * several ranges with odd lengths and gradients of every magnitude (zeros, subnormals, huge),
 * across a `setState` (which hands the optimizer a plain-array slot to move back into shared
 * memory). Also the training step's NaN check (`allFinite`, the `all_finite` kernel).
 *
 * Run: deno test -A tests/engine/wasm/rmsprop_test.ts
 */

import assert from "node:assert/strict";
import { cpuBackend } from "../../../engine/backend.ts";
import { simdSupported } from "../../../engine/wasm/codegen.ts";
import {
  createWasmBackend,
  isWasmBackend,
  type WasmBackend,
} from "../../../engine/wasm/wasm_backend.ts";
import { RMSprop } from "../../../layers/optimizers.ts";

const available = simdSupported();

async function wasm(workers: number): Promise<WasmBackend> {
  const backend = await createWasmBackend({ workers });
  assert.ok(isWasmBackend(backend), "SIMD is supported, so the backend is the wasm one");
  return backend;
}

/** Deterministic values spanning magnitudes: zeros, subnormals, tiny, ordinary and large. */
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u = (s >>> 8) / 2 ** 24;
    const kind = s % 7;
    a[i] = kind === 0 ? 0 : kind === 1 ? (u - 0.5) * 1e-40 : (u - 0.5) * 10 ** ((s % 13) - 6);
  }
  return a;
}

function firstDifference(a: Float32Array, b: Float32Array): number {
  return a.findIndex((v, i) => !Object.is(v, b[i]));
}

for (const workers of [1, 2]) {
  Deno.test({
    name: `wasm rmsprop: bitwise the TypeScript RMSprop, ${workers} participant(s)`,
    ignore: !available,
    async fn() {
      const backend = await wasm(workers);
      try {
        const n = 70_001;
        // ranges with odd starts and lengths, one below the backend's threshold (stays in TS)
        const ranges = [{ start: 3, end: 40_006 }, { start: 40_010, end: 40_100 }, {
          start: 40_101,
          end: 70_000,
        }];
        const cpu = { w: values(n, 1), opt: new RMSprop({ learningRate: 0.01, rho: 0.8 }) };
        const fast = {
          w: backend.alloc(n),
          opt: new RMSprop({ learningRate: 0.01, rho: 0.8 }),
        };
        fast.w.set(cpu.w);
        const grads = backend.alloc(n);
        for (let stepNo = 0; stepNo < 4; stepNo++) {
          grads.set(values(n, 10 + stepNo));
          if (stepNo === 2) {
            // a checkpoint restore: plain-array slots, moved into shared memory on the next step
            fast.opt.setState(cpu.opt.getState());
          }
          cpu.opt.step(cpu.w, grads.slice(), ranges, cpuBackend);
          fast.opt.step(fast.w, grads, ranges, backend);
          assert.equal(firstDifference(cpu.w, fast.w), -1, `values after step ${stepNo + 1}`);
          const [vc, vf] = [cpu.opt.getState(), fast.opt.getState()].map((s) => s.slots.velocity!);
          assert.equal(firstDifference(vc!, vf!), -1, `velocity after step ${stepNo + 1}`);
        }
        // the update really moved the parameters, and outside the ranges nothing changed
        assert.notEqual(fast.w[100], values(n, 1)[100]);
        assert.equal(fast.w[40_008], values(n, 1)[40_008]);
        assert.equal(fast.w[70_000], values(n, 1)[70_000]);
      } finally {
        backend.dispose();
      }
    },
  });
}

Deno.test({
  name: "wasm rmspropUpdate: declines arrays outside its memory, changing nothing",
  ignore: !available,
  async fn() {
    const backend = await wasm(1);
    try {
      const w = new Float32Array(8192).fill(1), g = new Float32Array(8192).fill(1);
      const v = backend.alloc(8192);
      const hyper = { learningRate: 0.1, rho: 0.9, epsilon: 1e-7 };
      assert.equal(backend.rmspropUpdate(w, g, v, 0, 8192, hyper), false);
      assert.equal(w[0], 1);
      assert.equal(v[0], 0);
      // in shared memory it runs: v = 0.1, w = 1 - 0.1 / (sqrt(0.1) + 1e-7)
      const ws = backend.alloc(8192).fill(1), gs = backend.alloc(8192).fill(1);
      assert.equal(backend.rmspropUpdate(ws, gs, v, 0, 8192, hyper), true);
      const vi = 0.9 * 0 + (1 - 0.9) * 1 * 1;
      assert.equal(v[8191], Math.fround(vi));
      assert.equal(ws[8191], Math.fround(1 - 0.1 * 1 / (Math.sqrt(vi) + 1e-7)));
    } finally {
      backend.dispose();
    }
  },
});

Deno.test({
  name:
    "wasm allFinite finds a NaN or an infinity anywhere, and declines arrays outside its memory",
  ignore: !available,
  async fn() {
    const backend = await wasm(1);
    try {
      for (const n of [1, 3, 4, 17, 64, 1001]) {
        const a = backend.alloc(n);
        // finite extremes: -0, the largest float, a subnormal
        a.set(values(n, n));
        a[0] = -0;
        if (n > 1) a[1] = 3.4028234663852886e38;
        if (n > 2) a[n - 1] = 1e-45;
        assert.equal(backend.allFinite(a), true, `n=${n} finite`);
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const at of new Set([0, Math.floor(n / 2), n - 1, n - 2].filter((i) => i >= 0))) {
            const saved = a[at]!;
            a[at] = bad;
            assert.equal(backend.allFinite(a), false, `n=${n}: ${bad} at ${at}`);
            a[at] = saved;
          }
        }
      }
      assert.equal(backend.allFinite(new Float32Array([1, NaN])), undefined);
    } finally {
      backend.dispose();
    }
  },
});
