/**
 * The shard work of each kernel call, run by every participant of the pool (the main thread as
 * participant 0, each worker as participant 1..n-1) on its own instance of the generated module
 * over the one shared memory. A call is described entirely by integers (byte pointers and shape
 * numbers) in an `Int32Array`, so it can be posted through a shared command area with no
 * messages; every participant derives its own share from its index, so no one hands out work.
 *
 * Shares are fixed functions of (index, count), and each output element or private gradient
 * buffer is written by exactly one participant in a fixed order, so results do not depend on
 * timing.
 *
 * @module
 */

/** The exports of the generated kernel module (see `codegen.ts`). */
export interface KernelExports {
  conv_fwd(
    y: number,
    x: number,
    wp: number,
    bp: number,
    row0: number,
    row1: number,
    outH: number,
    outW: number,
    outC: number,
    inC: number,
    kH: number,
    kW: number,
    strideH: number,
    strideW: number,
    rowBytes: number,
    xImgBytes: number,
  ): void;
  conv_dw(
    acc: number,
    x: number,
    dy: number,
    outH: number,
    outW: number,
    outC: number,
    inC: number,
    kH: number,
    kW: number,
    strideH: number,
    strideW: number,
    rowBytes: number,
  ): void;
  colsum(acc: number, dy: number, npix: number, outC: number): void;
  relu_fwd(y: number, x: number, nvec: number): void;
  relu_bwd(dx: number, dy: number, y: number, nvec: number): void;
}

/** What a participant needs to run a shard: its module instance and the shared memory. */
export interface TaskContext {
  readonly kernels: KernelExports;
  readonly memory: WebAssembly.Memory;
}

/** Task kinds (slot 0 of the argument vector). */
export const TASK_FWD = 1;
/** Kernel-gradient task kind. */
export const TASK_DW = 2;
/** Relu task kind: [kind, backward?, out, a, y, nvec]; split by vectors. */
export const TASK_RELU = 3;
/** Test hook: participant `args[1]` throws (or, when `args[2] > 0`, stalls that many ms). */
export const TASK_TEST_FAIL = 99;

/** Number of int32 argument slots a task may use. */
export const ARG_SLOTS = 32;

/**
 * Slots of a forward task. The source image (srcH x srcW x C) is either read in place
 * (`pad = 0`; then Hp = srcH, Wp = srcW) or embedded, per image, into a zeroed Hp x Wp private
 * buffer at (offT + i*dilH, offL + j*dilW): zero padding for a padded forward, and padding plus
 * dilation for the input gradient as a valid convolution of the embedded `dy`.
 */
export const F = {
  kind: 0,
  y: 1,
  src: 2,
  wp: 3,
  bp: 4,
  scratch: 5,
  scratchPer: 6,
  batch: 7,
  srcH: 8,
  srcW: 9,
  C: 10,
  pad: 11,
  dilH: 12,
  dilW: 13,
  offT: 14,
  offL: 15,
  Hp: 16,
  Wp: 17,
  outH: 18,
  outW: 19,
  outC: 20,
  kH: 21,
  kW: 22,
  sH: 23,
  sW: 24,
  /** 1: a matrix product (batch x 1 x N pixels); split the pixels, not the rows. */
  dense: 25,
} as const;

/**
 * Slots of a kernel-gradient task. Each participant accumulates into its private buffer at
 * `scratch + index * scratchPer`: `kH*kW*inC` rows of `ceil(outC/4)*4` floats, then the bias
 * sums (`ceil(outC/4)*4` floats), then room for one padded image.
 */
export const D = {
  kind: 0,
  scratch: 1,
  scratchPer: 2,
  x: 3,
  dy: 4,
  batch: 5,
  inH: 6,
  inW: 7,
  inC: 8,
  pad: 9,
  padT: 10,
  padL: 11,
  Hp: 12,
  Wp: 13,
  outH: 14,
  outW: 15,
  outC: 16,
  kH: 17,
  kW: 18,
  sH: 19,
  sW: 20,
  hasDb: 21,
  dense: 22,
} as const;

/** [start, end) of `total` items for participant `index` of `count` (even, fixed split). */
export function share(total: number, index: number, count: number): [number, number] {
  return [Math.floor((total * index) / count), Math.floor((total * (index + 1)) / count)];
}

/** Float count of one padded private image (plus a vector of slack for over-reads). */
export function paddedImageFloats(Hp: number, Wp: number, C: number): number {
  return Hp * Wp * C + 16;
}

/** Float count of the gradient accumulators of a kernel-gradient task. */
export function dwAccFloats(kH: number, kW: number, inC: number, outC: number): number {
  const padded = Math.ceil(outC / 4) * 4;
  return (kH * kW * inC + 1) * padded;
}

/**
 * Copies image `n` of `src` (srcH x srcW x C) into `dst` (Hp x Wp x C, zeroed first) at
 * (offT + i*dilH, offL + j*dilW).
 */
function embed(
  dst: Float32Array,
  src: Float32Array,
  n: number,
  srcH: number,
  srcW: number,
  C: number,
  dilH: number,
  dilW: number,
  offT: number,
  offL: number,
  Hp: number,
  Wp: number,
): void {
  dst.fill(0, 0, Hp * Wp * C);
  const img = n * srcH * srcW * C;
  for (let i = 0; i < srcH; i++) {
    const s = img + i * srcW * C;
    const d = ((offT + i * dilH) * Wp + offL) * C;
    if (dilW === 1) {
      dst.set(src.subarray(s, s + srcW * C), d);
    } else {
      for (let j = 0; j < srcW; j++) {
        const sj = s + j * C;
        const dj = d + j * dilW * C;
        for (let c = 0; c < C; c++) dst[dj + c] = src[sj + c]!;
      }
    }
  }
}

/** Runs participant `index`'s share of the task in `a`. */
export function runTask(a: Int32Array, index: number, count: number, ctx: TaskContext): void {
  switch (a[0]) {
    case TASK_FWD:
      return runFwd(a, index, count, ctx);
    case TASK_DW:
      return runDw(a, index, count, ctx);
    case TASK_RELU: {
      const [v0, v1] = share(a[5]!, index, count);
      if (v1 <= v0) return;
      const o = v0 * 16;
      if (a[1] === 1) ctx.kernels.relu_bwd(a[2]! + o, a[3]! + o, a[4]! + o, v1 - v0);
      else ctx.kernels.relu_fwd(a[2]! + o, a[3]! + o, v1 - v0);
      return;
    }
    case TASK_TEST_FAIL: {
      if (a[1] !== index) return;
      const stallMs = a[2]!;
      if (stallMs > 0) {
        const until = Date.now() + stallMs;
        while (Date.now() < until) { /* stall on purpose */ }
        return;
      }
      throw new Error(`test hook: participant ${index} failed on purpose`);
    }
    default:
      throw new Error(`unknown task kind ${a[0]}`);
  }
}

function runFwd(a: Int32Array, index: number, count: number, ctx: TaskContext): void {
  const g = (k: number) => a[k]!;
  const k = ctx.kernels;
  const C = g(F.C), outH = g(F.outH), outW = g(F.outW), outC = g(F.outC);
  const kH = g(F.kH), kW = g(F.kW), sH = g(F.sH), sW = g(F.sW);
  const Hp = g(F.Hp), Wp = g(F.Wp);
  const rowBytes = Wp * C * 4;
  if (g(F.dense) === 1) {
    // A matrix product: one "row" of batch pixels; split the pixels.
    const [p0, p1] = share(g(F.batch), index, count);
    if (p1 <= p0) return;
    k.conv_fwd(
      g(F.y) + p0 * outC * 4,
      g(F.src) + p0 * C * 4,
      g(F.wp),
      g(F.bp),
      0,
      1,
      1,
      p1 - p0,
      outC,
      C,
      1,
      1,
      1,
      1,
      0,
      0,
    );
    return;
  }
  const total = g(F.batch) * outH;
  const [r0, r1] = share(total, index, count);
  if (r1 <= r0) return;
  if (g(F.pad) === 0) {
    k.conv_fwd(
      g(F.y),
      g(F.src),
      g(F.wp),
      g(F.bp),
      r0,
      r1,
      outH,
      outW,
      outC,
      C,
      kH,
      kW,
      sH,
      sW,
      rowBytes,
      Hp * rowBytes,
    );
    return;
  }
  const scratch = g(F.scratch) + index * g(F.scratchPer);
  const buf = ctx.memory.buffer;
  const srcH = g(F.srcH), srcW = g(F.srcW);
  const src = new Float32Array(buf, g(F.src), g(F.batch) * srcH * srcW * C);
  const dst = new Float32Array(buf, scratch, Hp * Wp * C);
  const imgOut = outH * outW * outC * 4;
  for (let n = Math.floor(r0 / outH); n * outH < r1; n++) {
    embed(dst, src, n, srcH, srcW, C, g(F.dilH), g(F.dilW), g(F.offT), g(F.offL), Hp, Wp);
    const o0 = Math.max(r0 - n * outH, 0), o1 = Math.min(r1 - n * outH, outH);
    k.conv_fwd(
      g(F.y) + n * imgOut,
      scratch,
      g(F.wp),
      g(F.bp),
      o0,
      o1,
      outH,
      outW,
      outC,
      C,
      kH,
      kW,
      sH,
      sW,
      rowBytes,
      0,
    );
  }
}

function runDw(a: Int32Array, index: number, count: number, ctx: TaskContext): void {
  const g = (k: number) => a[k]!;
  const k = ctx.kernels;
  const batch = g(D.batch), inC = g(D.inC), outH = g(D.outH), outW = g(D.outW), outC = g(D.outC);
  const kH = g(D.kH), kW = g(D.kW), sH = g(D.sH), sW = g(D.sW);
  const Hp = g(D.Hp), Wp = g(D.Wp);
  const accFloats = dwAccFloats(kH, kW, inC, outC);
  const padded = Math.ceil(outC / 4) * 4;
  const acc = g(D.scratch) + index * g(D.scratchPer);
  const dbAcc = acc + (accFloats - padded) * 4;
  const buf = ctx.memory.buffer;
  new Float32Array(buf, acc, accFloats).fill(0);
  const hasDb = g(D.hasDb) === 1;
  if (g(D.dense) === 1) {
    const [p0, p1] = share(batch, index, count);
    if (p1 <= p0) return;
    const dy = g(D.dy) + p0 * outC * 4;
    k.conv_dw(acc, g(D.x) + p0 * inC * 4, dy, 1, p1 - p0, outC, inC, 1, 1, 1, 1, 0);
    if (hasDb) k.colsum(dbAcc, dy, p1 - p0, outC);
    return;
  }
  const [n0, n1] = share(batch, index, count);
  if (outH === 0 || outW === 0) return;
  const inH = g(D.inH), inW = g(D.inW);
  const rowBytes = Wp * inC * 4;
  const pad = g(D.pad) === 1;
  const img = acc + accFloats * 4;
  // The padded-image region exists only when the task pads (no view past it otherwise).
  const src = pad ? new Float32Array(buf, g(D.x), batch * inH * inW * inC) : null;
  const dst = pad ? new Float32Array(buf, img, Hp * Wp * inC) : null;
  for (let n = n0; n < n1; n++) {
    let xImg = g(D.x) + n * inH * inW * inC * 4;
    if (src !== null && dst !== null) {
      embed(dst, src, n, inH, inW, inC, 1, 1, g(D.padT), g(D.padL), Hp, Wp);
      xImg = img;
    }
    const dy = g(D.dy) + n * outH * outW * outC * 4;
    k.conv_dw(acc, xImg, dy, outH, outW, outC, inC, kH, kW, sH, sW, rowBytes);
    if (hasDb) k.colsum(dbAcc, dy, outH * outW, outC);
  }
}
