/**
 * The backend interface: the only way layers reach kernels. A backend owns the memory its kernels
 * address (`alloc`), so the worker-pool backend can hand out views into shared WebAssembly memory
 * while the single-thread backend hands out ordinary arrays; layer code is the same for both.
 *
 * Every method is synchronous: a pool backend blocks the calling thread on `Atomics.wait` until
 * its workers finish, which keeps the layers, the model and the RxJS pipeline free of promises in
 * the hot path.
 *
 * @module
 */

import type { Conv2DInfo } from "./conv_info.ts";
import { conv2dBackwardInput, conv2dBackwardKernel, conv2dForward } from "./kernels/conv2d.ts";
import { denseBackwardInput, denseBackwardKernel, denseForward } from "./kernels/dense.ts";
import {
  avgPoolBackward,
  avgPoolForward,
  maxPoolBackward,
  maxPoolForward,
} from "./kernels/pooling.ts";
import {
  activationBackward,
  activationForward,
  type ActivationName,
} from "./kernels/activations.ts";

/**
 * A kernel call that failed because of the machinery running it (a worker that threw, stalled or
 * died), not because of its inputs. The step can be rerun: the backend has recovered (a pool
 * replaces the worker), and no parameter was updated.
 */
export class KernelFaultError extends Error {
  /** Always `KernelFaultError`. */
  override name = "KernelFaultError";
  /**
   * Creates the error for the failed kernel, with the message and options of `Error`.
   *
   * @param kernel the kernel that failed, e.g. `conv2dForward`
   */
  constructor(readonly kernel: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The kernels a layer may call, and the allocator for the buffers it passes them. */
export interface Backend {
  /** A short name for logs and benchmarks, e.g. `cpu` or `wasm-simd x2`. */
  readonly name: string;
  /** A zero-filled float buffer that this backend's kernels can read and write. */
  alloc(size: number): Float32Array;
  /** A zero-filled int32 buffer (max-pooling argmax) that this backend's kernels can address. */
  allocInt32(size: number): Int32Array;

  /**
   * y = conv(x, w) + b, then relu when `relu` is true (in the same pass where the backend can:
   * the output is then not read and written again). With `pool` (a 2x2 stride-2 `valid` max
   * pooling of that output), y receives the pooled output instead, bitwise what
   * `maxPoolForward` would give, and `argmax`, if given, its argmax (the unpooled output is not
   * written anywhere). See `kernels/conv2d.ts` for layouts.
   */
  conv2dForward(
    y: Float32Array,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    info: Conv2DInfo,
    relu?: boolean,
    pool?: Conv2DInfo,
    argmax?: Int32Array,
  ): void;
  /**
   * dx = conv^T(dy, w) (overwrites). With `reluOf` (the layer's input, the output of a relu),
   * dx is then set to 0 wherever `reluOf` is not > 0: the relu's backward, in the same store
   * where the backend can (bitwise `activationBackward("relu", dx, dx, reluOf)`).
   */
  conv2dBackwardInput(
    dx: Float32Array,
    dy: Float32Array,
    w: Float32Array,
    info: Conv2DInfo,
    reluOf?: Float32Array,
  ): void;
  /** dw += corr(x, dy), db += sum(dy). */
  conv2dBackwardKernel(
    dw: Float32Array,
    db: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    info: Conv2DInfo,
  ): void;

  /** y = x w + b, then relu when `relu` is true (fused where the backend can). */
  denseForward(
    y: Float32Array,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    batch: number,
    inDim: number,
    outDim: number,
    relu?: boolean,
  ): void;
  /** dx = dy w^T (overwrites). */
  denseBackwardInput(
    dx: Float32Array,
    dy: Float32Array,
    w: Float32Array,
    batch: number,
    inDim: number,
    outDim: number,
  ): void;
  /** dw += x^T dy, db += sum(dy). */
  denseBackwardKernel(
    dw: Float32Array,
    db: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    batch: number,
    inDim: number,
    outDim: number,
  ): void;

  /** Max pooling: writes y (N, outH, outW, C) and each output's input index to `argmax`. */
  maxPoolForward(y: Float32Array, argmax: Int32Array, x: Float32Array, info: Conv2DInfo): void;
  /**
   * Max pooling backward: routes dy to the `argmax` inputs of dx (N, H, W, C). With `reluOf`
   * (the pooling's output, when its input is a relu's output), dy counts only where `reluOf` is
   * > 0: that relu's backward, folded in (bitwise the relu's backward on dx afterwards).
   */
  maxPoolBackward(
    dx: Float32Array,
    dy: Float32Array,
    argmax: Int32Array,
    info: Conv2DInfo,
    reluOf?: Float32Array,
  ): void;
  /** Average pooling: writes y (N, outH, outW, C) from x (N, H, W, C). */
  avgPoolForward(y: Float32Array, x: Float32Array, info: Conv2DInfo): void;
  /** Average pooling backward: spreads dy evenly over each window into dx. */
  avgPoolBackward(dx: Float32Array, dy: Float32Array, info: Conv2DInfo): void;

  /** Applies activation `name` to `size` values of x into y, in rows of `cols` (softmax's axis). */
  activationForward(
    name: ActivationName,
    y: Float32Array,
    x: Float32Array,
    size: number,
    cols: number,
  ): void;
  /** dx from dy and the activation's output y, for `size` values in rows of `cols`. */
  activationBackward(
    name: ActivationName,
    dx: Float32Array,
    dy: Float32Array,
    y: Float32Array,
    size: number,
    cols: number,
  ): void;

  /**
   * Optional: RMSprop without momentum over `values[start, end)`, bitwise what the TypeScript
   * optimizer computes (float64 arithmetic, one rounding per stored value): `velocity = rho
   * velocity + (1 - rho) g^2`, `values -= lr g / (sqrt(velocity) + epsilon)`. Returns false,
   * having changed nothing, where this backend cannot run it (e.g. an array outside its memory).
   */
  rmspropUpdate?(
    values: Float32Array,
    grads: Float32Array,
    velocity: Float32Array,
    start: number,
    end: number,
    hyper: { learningRate: number; rho: number; epsilon: number },
  ): boolean;

  /**
   * Optional: whether `a` holds no NaN and no infinity (the training step's check of the
   * gradients), where this backend has a faster way than a TypeScript loop; undefined where it
   * cannot answer (e.g. an array outside its memory).
   */
  allFinite?(a: Float32Array): boolean | undefined;

  /** Releases workers and memory; the backend must not be used afterwards. */
  dispose(): void;
}

/**
 * Throws unless `pool` is what `Backend.conv2dForward` fuses: 2x2 windows, stride 2, no padding,
 * over the output of the convolution `conv`.
 */
export function checkPoolAfterConv(conv: Conv2DInfo, pool: Conv2DInfo): void {
  const ok = pool.kH === 2 && pool.kW === 2 && pool.strideH === 2 && pool.strideW === 2 &&
    pool.padTop + pool.padLeft + pool.padBottom + pool.padRight === 0 &&
    pool.batch === conv.batch && pool.inH === conv.outH && pool.inW === conv.outW &&
    pool.inC === conv.outC;
  if (!ok) {
    throw new RangeError(
      `conv2dForward: the fused pooling must be 2x2, stride 2, valid, over the ` +
        `${conv.batch}x${conv.outH}x${conv.outW}x${conv.outC} output; received ` +
        `${pool.kH}x${pool.kW} windows, strides ${pool.strideH}x${pool.strideW} over ` +
        `${pool.batch}x${pool.inH}x${pool.inW}x${pool.inC}`,
    );
  }
}

/**
 * The single-thread backend: plain TypeScript kernels on ordinary arrays. It is the reference
 * for tests and the fallback where WebAssembly SIMD or workers are missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuBackend } from "./backend.ts";
 * const y = cpuBackend.alloc(4);
 * cpuBackend.activationForward("relu", y, new Float32Array([-1, 2, -3, 4]), 4, 4);
 * assert(y[1] === 2 && y[0] === 0);
 * ```
 */
export const cpuBackend: Backend = {
  name: "cpu",
  alloc: (size) => new Float32Array(size),
  allocInt32: (size) => new Int32Array(size),
  conv2dForward: (y, x, w, b, info, relu = false, pool, argmax) => {
    const size = info.batch * info.outH * info.outW * info.outC;
    if (pool !== undefined) checkPoolAfterConv(info, pool);
    const out = pool === undefined ? y : new Float32Array(size);
    conv2dForward(out, x, w, b, info);
    if (relu) activationForward("relu", out, out, size, info.outC);
    if (pool !== undefined) {
      const pooled = pool.batch * pool.outH * pool.outW * pool.outC;
      maxPoolForward(y, argmax ?? new Int32Array(pooled), out, pool);
    }
  },
  conv2dBackwardInput: (dx, dy, w, info, reluOf) => {
    conv2dBackwardInput(dx, dy, w, info);
    if (reluOf !== undefined) activationBackward("relu", dx, dx, reluOf, dx.length, info.inC);
  },
  conv2dBackwardKernel,
  denseForward: (y, x, w, b, batch, inDim, outDim, relu = false) => {
    denseForward(y, x, w, b, batch, inDim, outDim);
    if (relu) activationForward("relu", y, y, batch * outDim, outDim);
  },
  denseBackwardInput,
  denseBackwardKernel,
  maxPoolForward,
  maxPoolBackward: (dx, dy, argmax, info, reluOf) => {
    if (reluOf === undefined) return maxPoolBackward(dx, dy, argmax, info);
    const masked = new Float32Array(dy.length);
    activationBackward("relu", masked, dy, reluOf, dy.length, info.inC);
    maxPoolBackward(dx, masked, argmax, info);
  },
  avgPoolForward,
  avgPoolBackward,
  activationForward,
  activationBackward,
  dispose: () => {},
};
