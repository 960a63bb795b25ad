/**
 * The work of each kernel call, cut into chunks that the participants of the pool (the main
 * thread and the workers, each with its own instance of the generated module over the one
 * shared memory) claim from a shared counter. A call is described entirely by integers (byte
 * pointers and shape numbers) in an `Int32Array`, so it can be posted through a shared command
 * area with no messages.
 *
 * A chunk is a fixed function of (chunk, chunks) and the task: whoever runs it writes the same
 * output elements with the same arithmetic, and the kernel gradient sums into one accumulator per
 * chunk, reduced in chunk order. So results do not depend on timing or on which thread ran what;
 * only temporaries (work areas, padded copies) belong to the participant (`slot`).
 *
 * @module
 */

/** A kernel-gradient driver (`conv_dw`, `conv_dw_taps`, `conv_dw_direct`: one signature). */
export type DwDriver = (
  acc: number,
  x: number,
  dy: number,
  lp: number,
  npix: number,
  outC: number,
  inC: number,
  kH: number,
  kW: number,
  rowBytes: number,
  work: number,
) => void;

/** A Winograd input transform, F(2x2, 3x3) or F(4x4, 3x3) (`wino_in`, `wino4_in`). */
export type WinoInputTransform = (
  V: number,
  x: number,
  t0: number,
  nT: number,
  posBytes: number,
  inH: number,
  inW: number,
  C: number,
  tH: number,
  tW: number,
  padT: number,
  padL: number,
  zp: number,
  tileBytes: number,
  blk: number,
  blkExtra: number,
) => void;

/** A Winograd output transform, F(2x2, 3x3) or F(4x4, 3x3) (`wino_out`, `wino4_out`). */
export type WinoOutputTransform = (
  y: number,
  M: number,
  bias: number,
  t0: number,
  nT: number,
  T: number,
  outH: number,
  outW: number,
  N: number,
  Np: number,
  tH: number,
  tW: number,
  relu: number,
  pool: number,
  arg: number,
  mask: number,
) => void;

/** A Winograd filter transform in float64 lanes (`wino_filter`, `wino4_filter`). */
export type WinoFilterTransform = (
  dst: number,
  w: number,
  C: number,
  N: number,
  cStride: number,
  nStride: number,
  flip: number,
  vecs: number,
  c0: number,
  c1: number,
  nEven: number,
) => void;

/** The Winograd kernel gradient's filter transform (`wino_filter_grad`, `wino4_filter_grad`). */
export type WinoFilterGradient = (
  dw: number,
  acc: number,
  C: number,
  N: number,
  Np: number,
  B: number,
  c0: number,
  c1: number,
  nEven: number,
) => void;

/** The exports of the generated kernel module (see `codegen.ts`). */
export interface KernelExports {
  conv_plan(
    plan: number,
    y: number,
    x: number,
    wp: number,
    bp: number,
    N: number,
    K: number,
    rowBytes: number,
    part: number,
    parts: number,
    relu: number,
  ): void;
  conv_dw: DwDriver;
  conv_dw_taps: DwDriver;
  conv_dw_direct: DwDriver;
  conv_c1(
    y: number,
    x: number,
    wp: number,
    bp: number,
    r0: number,
    r1: number,
    outH: number,
    outW: number,
    inH: number,
    inW: number,
    N: number,
    relu: number,
  ): void;
  colsum(acc: number, dy: number, npix: number, outC: number): void;
  vsum(dst: number, src: number, nvec: number): void;
  wino_in: WinoInputTransform;
  wino_dy(
    dMT: number,
    dy: number,
    zp: number,
    t0: number,
    nT: number,
    T: number,
    outH: number,
    outW: number,
    N: number,
    Np: number,
    tH: number,
    tW: number,
  ): void;
  wino_dw(
    acc: number,
    V: number,
    dMT: number,
    nT: number,
    T: number,
    Cp: number,
    Np: number,
    P: number,
  ): void;
  wino4_dy(
    dMT: number,
    dy: number,
    zp: number,
    t0: number,
    nT: number,
    T: number,
    outH: number,
    outW: number,
    N: number,
    Np: number,
    tH: number,
    tW: number,
    tmp: number,
  ): void;
  wino4_filter_grad: WinoFilterGradient;
  wino_gemm(
    M: number,
    V: number,
    wp: number,
    nT: number,
    T: number,
    C: number,
    Cp: number,
    N: number,
    Np: number,
    P: number,
  ): void;
  wino4_in: WinoInputTransform;
  wino4_out: WinoOutputTransform;
  wino_out: WinoOutputTransform;
  relu_fwd(y: number, x: number, nvec: number): void;
  relu_bwd(dx: number, dy: number, y: number, nvec: number): void;
  rmsprop(w: number, g: number, v: number, c: number, nvec: number): void;
  all_finite(a: number, nvec: number): number;
  zero(at: number, bytes: number): void;
  wino_blocks(
    V: number,
    M: number,
    x: number,
    y: number,
    wp: number,
    bz: number,
    bias: number,
    b0: number,
    b1: number,
    T: number,
    tiles: number,
    C: number,
    Cp: number,
    N: number,
    Np: number,
    inH: number,
    inW: number,
    tH: number,
    tW: number,
    padT: number,
    padL: number,
    outH: number,
    outW: number,
    relu: number,
    pool: number,
    arg: number,
    mask: number,
    f4: number,
  ): void;
  dense_dw(
    dw: number,
    x: number,
    dy: number,
    bounds: number,
    nb: number,
    K: number,
    N: number,
    k0: number,
    k1: number,
    xT: number,
    batch: number,
  ): void;
  wino_filter: WinoFilterTransform;
  wino4_filter: WinoFilterTransform;
  wino_filter_grad: WinoFilterGradient;
  pack_t(
    dst: number,
    src: number,
    rows: number,
    nn: number,
    width: number,
    colStride: number,
  ): void;
  pack(
    dst: number,
    src: number,
    rows: number,
    nn: number,
    width: number,
    rowStep: number,
    colStride: number,
  ): void;
  maxpool_fwd(
    y: number,
    arg: number,
    x: number,
    p0: number,
    p1: number,
    inH: number,
    inW: number,
    C: number,
    outH: number,
    outW: number,
    kH: number,
    kW: number,
    sH: number,
    sW: number,
    padT: number,
    padL: number,
  ): void;
  maxpool_bwd2(
    dx: number,
    dy: number,
    arg: number,
    mask: number,
    n0: number,
    n1: number,
    inH: number,
    inW: number,
    C: number,
    outH: number,
    outW: number,
  ): void;
  maxpool_bwd(
    dx: number,
    dy: number,
    arg: number,
    z0: number,
    z1: number,
    i0: number,
    i1: number,
  ): void;
}

/** What a participant needs to run a chunk: its module instance and the shared memory. */
export interface TaskContext {
  readonly kernels: KernelExports;
  readonly memory: WebAssembly.Memory;
}

/** Task kinds (slot 0 of the argument vector). */
/** A direct convolution (forward, stride-1 input gradient, dense) over a pixel plan: see `P`. */
export const TASK_CONV = 1;
/** Kernel-gradient task kind: see `D`. */
export const TASK_DW = 2;
/** Relu task kind: [kind, backward?, out, a, y, nvec]; split by vectors. */
export const TASK_RELU = 3;
/** The input gradient of a strided convolution, per image through an embedding: see `F`. */
export const TASK_CONV_EMBED = 4;
/** Max-pooling forward: see `MP`; split by output pixels. */
export const TASK_POOL_FWD = 5;
/** Max-pooling backward: see `MB`; split by images. */
export const TASK_POOL_BWD = 6;
/** A 3x3 stride-1 convolution by Winograd F(2x2, 3x3) or F(4x4, 3x3), per block of tiles: see `W`. */
export const TASK_WINO = 7;
/** The forward of a valid 3x3 stride-1 one-channel convolution (`conv_c1`): see `C1`. */
export const TASK_C1 = 8;
/** A 3x3 stride-1 kernel gradient by Winograd F(2x2, 3x3) or F(4x4, 3x3), per block of tiles: see `WD`. */
export const TASK_WINO_DW = 9;
/** RMSprop task kind: [kind, w, g, v, constants, nvec]; split by vectors. */
export const TASK_RMSPROP = 10;
/**
 * A dense layer's kernel gradient (`dense_dw`): [kind, dw, x, dy, bounds, nb, K, N, xT, batch];
 * split by pairs of rows of dw (K even).
 */
export const TASK_DENSE_DW = 11;
/**
 * The Winograd filter transforms, split by input channels: [kind, `WINO_FILTER_KIND`, dst, w,
 * C, N, cStride, nStride, flip, vecs] (the forward transforms) or [kind, `WINO_FILTER_KIND`,
 * dw, acc, C, N, Np, B] (the gradient ones); N's last channel when odd is left to the caller.
 */
export const TASK_WINO_FILTER = 12;
/** Slot 1 of a `TASK_WINO_FILTER`: which transform it runs. */
export const WINO_FILTER_KIND = {
  /** U = G g G^T for F(2x2, 3x3) (`wino_filter`). */
  forward2: 0,
  /** dw += G^T dU G for F(2x2, 3x3) (`wino_filter_grad`). */
  gradient2: 1,
  /** U = G g G^T for F(4x4, 3x3) (`wino4_filter`). */
  forward4: 2,
  /** dw += G^T dU G for F(4x4, 3x3) (`wino4_filter_grad`). */
  gradient4: 3,
} as const;
/**
 * The backward of a 2x2 stride-2 `valid` max pooling (`maxpool_bwd2`): [kind, dx, dy, arg, mask,
 * batch, inH, inW, C, outH, outW]; split by images.
 */
export const TASK_POOL_BWD2 = 13;
/**
 * Test hook: participant `args[1]` throws (or, when `args[2] > 0`, stalls that many ms); in a
 * worker, `args[3]` may instead ask for an uncaught crash (`TEST_CRASH`) or a stop
 * (`TEST_CLOSE`), which `worker.ts` performs.
 */
export const TASK_TEST_FAIL = 99;
/** `TASK_TEST_FAIL` mode: the worker dies of an uncaught error. */
export const TEST_CRASH = 1;
/** `TASK_TEST_FAIL` mode: the worker closes itself mid-task (no error, no answer). */
export const TEST_CLOSE = 2;

/** Number of int32 argument slots a task may use. */
export const ARG_SLOTS = 32;
/** Argument slot: 1 for a static task (chunk i runs on participant i; the test hook). */
export const A_STATIC = 30;
/** Argument slot: the number of chunks of the task (>= 1). */
export const A_CHUNKS = 31;

/** Slots of a plan task: `conv_plan` over share `chunk` of `chunks` of every pixel class. */
export const P = {
  kind: 0,
  plan: 1,
  y: 2,
  x: 3,
  wp: 4,
  bp: 5,
  N: 6,
  K: 7,
  rowBytes: 8,
  /** 1: relu fused into the store. */
  relu: 9,
} as const;

/** Slots of a `conv_c1` task: its parameters, the output rows (`rows` = batch x outH) split. */
export const C1 = {
  kind: 0,
  y: 1,
  x: 2,
  wp: 3,
  bp: 4,
  rows: 5,
  outH: 6,
  outW: 7,
  inH: 8,
  inW: 9,
  N: 10,
  /** 1: relu fused into the store. */
  relu: 11,
} as const;

/**
 * Slots of an embedding task (the input gradient of a strided convolution). Per image, the source
 * (srcH x srcW x C) is copied into a zeroed Hp x Wp private buffer at (offT + i*dilH,
 * offL + j*dilW), the stride becoming dilation, and a single-image plan of the valid convolution
 * of that buffer runs into image n of y. Participants own whole images.
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
  dilH: 11,
  dilW: 12,
  offT: 13,
  offL: 14,
  Hp: 15,
  Wp: 16,
  N: 17,
  K: 18,
  plan: 19,
  yImgBytes: 20,
} as const;

/**
 * Slots of a kernel-gradient task. Chunk c of the pixels sums into its accumulators at
 * `scratch + c * scratchPer`: the driver's (see `dwMainFloats`), then the bias sums
 * (`ceil(outC/4)*4` floats). Participant s uses the work area at `work + s * workPer`: the
 * driver's (`dwWorkFloats`), then room for one padded image. `list` holds the byte offsets of
 * each output pixel's window (see `dwOffsets`): of the whole batch when unpadded, of one padded
 * image otherwise.
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
  /** Taps per accumulator block (the dw tile's vecs x 4). */
  B: 19,
  /** 1: the tap-rows driver `conv_dw_taps` (see `dwTapRows`). */
  taps: 20,
  hasDb: 21,
  dense: 22,
  list: 23,
  work: 24,
  workPer: 25,
} as const;

/**
 * Slots both Winograd tasks (`W`, `WD`) share: the tiles per block `T`, the tile count, and the
 * convolution's geometry (tH x tW tiles of 2x2 outputs per image).
 */
export const WG = {
  T: 8,
  tiles: 9,
  inH: 10,
  inW: 11,
  C: 12,
  Cp: 13,
  outH: 14,
  outW: 15,
  N: 16,
  Np: 17,
  tH: 18,
  tW: 19,
  padT: 20,
  padL: 21,
} as const;

/**
 * Slots of a Winograd task: the output's m x m tiles (`tiles` = batch x tH x tW; m = 2, or 4 with
 * `f4`) in blocks of `T`; per block, `wino_in` (`wino4_in`) into V, the batched GEMM `wino_gemm`
 * into M, `wino_out` (`wino4_out`) into y. V and M ([P][T][Cp] and [P][T][Np] floats, P = 16 or
 * 36 transform positions) live in the participant's private region at `scratch + slot *
 * scratchPer`. `wp` is the transformed filter packed as a (P*C) x N matrix; `bz` holds max(Cp, Np)
 * zero floats (the padding taps' zeros); `bias` the layer's bias (Np floats).
 */
export const W = {
  kind: 0,
  x: 1,
  y: 2,
  wp: 3,
  bz: 4,
  bias: 5,
  ...WG,
  scratch: 22,
  scratchPer: 23,
  /** 1: relu fused into the output transform's store. */
  relu: 24,
  /** 1: y is the 2x2 stride-2 max pooling of the output (see `wino_out`). */
  pool: 25,
  /** With `pool`: where the pooling's argmax goes (int32 per pooled output), or 0 for nowhere. */
  arg: 26,
  /** Without `pool`: a relu's output laid out as y, masking y (its backward), or 0 for none. */
  mask: 27,
  /** 1: F(4x4, 3x3) (`wino4_in`, `wino4_out`, 36 positions, 4x4 output tiles). */
  f4: 28,
} as const;

/**
 * Slots of a Winograd kernel-gradient task: the output's m x m tiles (`tiles` = batch x tH x tW;
 * m = 2, or 4 with `f4`) in blocks of `T` (a multiple of 4), the blocks shared among the chunks.
 * Per block, `wino_in` (`wino4_in`) packs V ([P][ceil(Cp/B)][T][B] floats, P = 16 or 36
 * positions), `wino_dy` (`wino4_dy`) writes dMT ([P][Np][T]), and `wino_dw` adds V^T dM into the
 * chunk's accumulators at `scratch + chunk * scratchPer`: [P][ceil(Cp/B)][Np][B] floats
 * (`winoDwMainFloats`), then the bias sums (Np floats: `colsum` of the chunk's share of dy's
 * pixels). V, dMT and `wino4_dy`'s scratch live in the participant's region at `work + slot *
 * workPer`; `bz` holds max(Cp, Np) zero floats for the taps and outputs outside the images.
 */
export const WD = {
  kind: 0,
  x: 1,
  dy: 2,
  bz: 3,
  scratch: 4,
  scratchPer: 5,
  work: 6,
  workPer: 7,
  ...WG,
  B: 22,
  hasDb: 23,
  pixels: 24,
  /** 1: F(4x4, 3x3) (`wino4_in`, `wino4_dy`, 36 positions, 4x4 output tiles). */
  f4: 25,
} as const;

/** Float count of a Winograd kernel gradient's accumulators (without the bias sums). */
export function winoDwMainFloats(Cp: number, Np: number, B: number, P = 16): number {
  return P * Math.ceil(Cp / B) * Np * B;
}

/** Floats of `wino4_dy`'s per-participant scratch (4 tiles x 36 vectors), after dMT. */
const WINO4_DY_TMP_FLOATS = 4 * 36 * 4;

/** Float count of a Winograd kernel-gradient block's work area: V, dMT, then `wino4_dy`'s scratch. */
export function winoDwWorkFloats(T: number, Cp: number, Np: number, B: number, P = 16): number {
  return P * T * (Math.ceil(Cp / B) * B + Np) + (P === 36 ? WINO4_DY_TMP_FLOATS : 0);
}

/** Slots of a max-pooling forward task (`maxpool_fwd`'s parameters, pixels split). */
export const MP = {
  kind: 0,
  y: 1,
  arg: 2,
  x: 3,
  pixels: 4,
  inH: 5,
  inW: 6,
  C: 7,
  outH: 8,
  outW: 9,
  kH: 10,
  kW: 11,
  sH: 12,
  sW: 13,
  padT: 14,
  padL: 15,
} as const;

/** Slots of a max-pooling backward task: floats per input and per output image. */
export const MB = {
  kind: 0,
  dx: 1,
  dy: 2,
  arg: 3,
  batch: 4,
  inImg: 5,
  outImg: 6,
} as const;

/** [start, end) of `total` items for chunk `index` of `count` (even, fixed split). */
export function share(total: number, index: number, count: number): [number, number] {
  return [Math.floor((total * index) / count), Math.floor((total * (index + 1)) / count)];
}

/**
 * [start, end) of `total` items for chunk `index` of `count` claimed in order by the pool's
 * participants: decreasing sizes, in proportion to 2(count - index) - 1 (15, 13, ..., 1 for 8
 * chunks), so the chunks still running when the others run out of work are short. With even
 * chunks the main thread waited for the worker's last chunk 1.6 ms per training step on 2
 * participants, half a chunk per call. Fixed for a given count, like `share`, so the kernel
 * gradients, whose chunks are summed in order, stay deterministic for a given participant count.
 */
export function claimShare(total: number, index: number, count: number): [number, number] {
  const sq = count * count;
  // The last boundary is `total` itself, not a quotient that float rounding could leave below it.
  const at = (i: number) =>
    i >= count ? total : Math.floor((total * (sq - (count - i) * (count - i))) / sq);
  return [at(index), at(index + 1)];
}

/** Chunk `index`'s share (0-1) of the work that {@linkcode claimShare} splits into `count`. */
export function claimWeight(index: number, count: number): number {
  return (2 * (count - index) - 1) / (count * count);
}

/** Float count of one padded private image (plus a vector of slack for over-reads). */
export function paddedImageFloats(Hp: number, Wp: number, C: number): number {
  return Hp * Wp * C + 16;
}

/**
 * Whether a kernel gradient with K taps and N output channels runs the tap-rows driver
 * (`conv_dw_taps`: fewer taps than channels, as the first layer) rather than `conv_dw`.
 */
export function dwTapRows(K: number, N: number): boolean {
  return K < N;
}

/**
 * Whether a tap-rows kernel gradient runs `conv_dw_direct` (reduced in place, nothing packed)
 * instead of `conv_dw_taps`: one input channel, where the taps driver's gather of 9 taps per
 * pixel costs as much as its multiply-adds. Same accumulator layout.
 */
export function dwDirect(inC: number, K: number, N: number): boolean {
  return inC === 1 && dwTapRows(K, N);
}

/** Float count of the work area of either kernel-gradient driver (K taps, N channels). */
export function dwWorkFloats(K: number, N: number, B: number): number {
  return dwTapRows(K, N) ? DW_CHUNK_PIXELS * (K + B) + K + 16 : DW_CHUNK_PIXELS * (N + B) + B + 16;
}

/**
 * Float count of the kernel-gradient accumulators: [ceil(K/B) tap blocks][N][B] for `conv_dw`,
 * [ceil(N/B) channel blocks][K][B] for `conv_dw_taps`.
 */
export function dwMainFloats(K: number, N: number, B: number): number {
  return dwTapRows(K, N) ? Math.ceil(N / B) * K * B : Math.ceil(K / B) * N * B;
}

/** Float count of a kernel-gradient task's accumulators: the kernel's, then the bias sums. */
export function dwAccFloats(K: number, N: number, B: number): number {
  return dwMainFloats(K, N, B) + Math.ceil(N / 4) * 4;
}

/**
 * Output pixels per kernel-gradient driver call: the length of every tile's reduction. Longer
 * amortises each tile's accumulator loads and stores (64 pixels ran ~15% slower than 256 on the
 * seed CNN); the tile's operands (6 rows of dyT, the packed taps: 14 KB at 256) stay in L1 and
 * the rest of dyT streams from L2.
 */
export const DW_CHUNK_PIXELS = 256;

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

/**
 * Runs chunk `index` of the `count` chunks of the task in `a` on participant `slot` (whose
 * private temporaries it may use).
 */
export function runTask(
  a: Int32Array,
  index: number,
  count: number,
  slot: number,
  ctx: TaskContext,
): void {
  const k = ctx.kernels;
  switch (a[0]) {
    case TASK_CONV:
      k.conv_plan(
        a[P.plan]!,
        a[P.y]!,
        a[P.x]!,
        a[P.wp]!,
        a[P.bp]!,
        a[P.N]!,
        a[P.K]!,
        a[P.rowBytes]!,
        index,
        count,
        a[P.relu]!,
      );
      return;
    case TASK_C1: {
      const [r0, r1] = claimShare(a[C1.rows]!, index, count);
      if (r1 > r0) {
        k.conv_c1(
          a[C1.y]!,
          a[C1.x]!,
          a[C1.wp]!,
          a[C1.bp]!,
          r0,
          r1,
          a[C1.outH]!,
          a[C1.outW]!,
          a[C1.inH]!,
          a[C1.inW]!,
          a[C1.N]!,
          a[C1.relu]!,
        );
      }
      return;
    }
    case TASK_CONV_EMBED:
      return runEmbedded(a, index, count, slot, ctx);
    case TASK_WINO:
      return runWinograd(a, index, count, slot, ctx);
    case TASK_DW:
      return runDw(a, index, count, slot, ctx);
    case TASK_WINO_DW:
      return runWinogradDw(a, index, count, slot, ctx);
    case TASK_RELU: {
      const [v0, v1] = claimShare(a[5]!, index, count);
      if (v1 <= v0) return;
      const o = v0 * 16;
      if (a[1] === 1) k.relu_bwd(a[2]! + o, a[3]! + o, a[4]! + o, v1 - v0);
      else k.relu_fwd(a[2]! + o, a[3]! + o, v1 - v0);
      return;
    }
    case TASK_DENSE_DW: {
      const [r0, r1] = claimShare(a[6]! >> 1, index, count);
      if (r1 <= r0) return;
      k.dense_dw(a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, 2 * r0, 2 * r1, a[8]!, a[9]!);
      return;
    }
    case TASK_POOL_BWD2: {
      const [n0, n1] = claimShare(a[5]!, index, count);
      if (n1 <= n0) return;
      k.maxpool_bwd2(a[1]!, a[2]!, a[3]!, a[4]!, n0, n1, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!);
      return;
    }
    case TASK_WINO_FILTER: {
      const [c0, c1] = claimShare(a[4]!, index, count), nEven = a[5]! & ~1;
      if (c1 <= c0) return;
      switch (a[1]) {
        case WINO_FILTER_KIND.forward2:
          k.wino_filter(a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, c0, c1, nEven);
          break;
        case WINO_FILTER_KIND.forward4:
          k.wino4_filter(a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, c0, c1, nEven);
          break;
        case WINO_FILTER_KIND.gradient2:
          k.wino_filter_grad(a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, c0, c1, nEven);
          break;
        case WINO_FILTER_KIND.gradient4:
          k.wino4_filter_grad(a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, c0, c1, nEven);
          break;
        default:
          throw new Error(`wino filter task: unknown kind ${a[1]}, expected 0-3`);
      }
      return;
    }
    case TASK_RMSPROP: {
      const [v0, v1] = claimShare(a[5]!, index, count);
      if (v1 <= v0) return;
      const o = v0 * 16;
      k.rmsprop(a[1]! + o, a[2]! + o, a[3]! + o, a[4]!, v1 - v0);
      return;
    }
    case TASK_POOL_FWD: {
      const [p0, p1] = claimShare(a[MP.pixels]!, index, count);
      if (p1 <= p0) return;
      k.maxpool_fwd(
        a[MP.y]!,
        a[MP.arg]!,
        a[MP.x]!,
        p0,
        p1,
        a[MP.inH]!,
        a[MP.inW]!,
        a[MP.C]!,
        a[MP.outH]!,
        a[MP.outW]!,
        a[MP.kH]!,
        a[MP.kW]!,
        a[MP.sH]!,
        a[MP.sW]!,
        a[MP.padT]!,
        a[MP.padL]!,
      );
      return;
    }
    case TASK_POOL_BWD: {
      const [n0, n1] = claimShare(a[MB.batch]!, index, count);
      if (n1 <= n0) return;
      const inImg = a[MB.inImg]!, outImg = a[MB.outImg]!;
      k.maxpool_bwd(
        a[MB.dx]!,
        a[MB.dy]!,
        a[MB.arg]!,
        n0 * inImg,
        n1 * inImg,
        n0 * outImg,
        n1 * outImg,
      );
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

function runWinograd(
  a: Int32Array,
  index: number,
  count: number,
  slot: number,
  ctx: TaskContext,
): void {
  const g = (k: number) => a[k]!;
  const T = g(W.T), tiles = g(W.tiles), Cp = g(W.Cp);
  const [b0, b1] = claimShare(Math.ceil(tiles / T), index, count);
  if (b1 <= b0) return;
  const P = g(W.f4) !== 0 ? 36 : 16;
  const V = g(W.scratch) + slot * g(W.scratchPer);
  const M = V + P * T * Cp * 4;
  ctx.kernels.wino_blocks(
    V,
    M,
    g(W.x),
    g(W.y),
    g(W.wp),
    g(W.bz),
    g(W.bias),
    b0,
    b1,
    T,
    tiles,
    g(W.C),
    Cp,
    g(W.N),
    g(W.Np),
    g(W.inH),
    g(W.inW),
    g(W.tH),
    g(W.tW),
    g(W.padT),
    g(W.padL),
    g(W.outH),
    g(W.outW),
    g(W.relu),
    g(W.pool),
    g(W.arg),
    g(W.mask),
    g(W.f4),
  );
}

function runWinogradDw(
  a: Int32Array,
  index: number,
  count: number,
  slot: number,
  ctx: TaskContext,
): void {
  const g = (k: number) => a[k]!;
  const k = ctx.kernels;
  const T = g(WD.T), tiles = g(WD.tiles), Cp = g(WD.Cp), N = g(WD.N), Np = g(WD.Np);
  const B = g(WD.B), nTB = Math.ceil(Cp / B);
  const f4 = g(WD.f4) !== 0, P = f4 ? 36 : 16;
  const acc = g(WD.scratch) + index * g(WD.scratchPer);
  const main = winoDwMainFloats(Cp, Np, B, P);
  k.zero(acc, (main + Np) * 4);
  const V = g(WD.work) + slot * g(WD.workPer);
  const dMT = V + P * nTB * T * B * 4;
  const tmp = dMT + P * Np * T * 4;
  const x = g(WD.x), dy = g(WD.dy), inH = g(WD.inH), inW = g(WD.inW), C = g(WD.C);
  const tH = g(WD.tH), tW = g(WD.tW), padT = g(WD.padT), padL = g(WD.padL), bz = g(WD.bz);
  const outH = g(WD.outH), outW = g(WD.outW);
  // The block's layout for the kernel gradient's GEMM: [P][Cp/B][T][B] (see `wino_in`).
  const posBytes = nTB * T * B * 4, blkExtra = (T - 1) * B * 4;
  const transformIn = f4 ? k.wino4_in : k.wino_in;
  const [b0, b1] = claimShare(Math.ceil(tiles / T), index, count);
  for (let b = b0; b < b1; b++) {
    const t0 = b * T, nT = Math.min(T, tiles - t0);
    transformIn(
      V,
      x,
      t0,
      nT,
      posBytes,
      inH,
      inW,
      C,
      tH,
      tW,
      padT,
      padL,
      bz,
      B * 4,
      B * 4,
      blkExtra,
    );
    if (f4) k.wino4_dy(dMT, dy, bz, t0, nT, T, outH, outW, N, Np, tH, tW, tmp);
    else k.wino_dy(dMT, dy, bz, t0, nT, T, outH, outW, N, Np, tH, tW);
    k.wino_dw(acc, V, dMT, nT, T, Cp, Np, P);
  }
  if (g(WD.hasDb) === 1) {
    const [p0, p1] = claimShare(g(WD.pixels), index, count);
    if (p1 > p0) k.colsum(acc + main * 4, dy + p0 * N * 4, p1 - p0, N);
  }
}

function runEmbedded(
  a: Int32Array,
  index: number,
  count: number,
  slot: number,
  ctx: TaskContext,
): void {
  const g = (k: number) => a[k]!;
  // Whole images per chunk, or, with fewer images than chunks, every chunk embeds every image
  // and takes its share of the plan.
  const byImage = g(F.batch) >= count;
  const [n0, n1] = byImage ? share(g(F.batch), index, count) : [0, g(F.batch)];
  if (n1 <= n0) return;
  const C = g(F.C), Hp = g(F.Hp), Wp = g(F.Wp), srcH = g(F.srcH), srcW = g(F.srcW);
  const scratch = g(F.scratch) + slot * g(F.scratchPer);
  const buf = ctx.memory.buffer;
  const src = new Float32Array(buf, g(F.src), g(F.batch) * srcH * srcW * C);
  const dst = new Float32Array(buf, scratch, Hp * Wp * C);
  for (let n = n0; n < n1; n++) {
    embed(dst, src, n, srcH, srcW, C, g(F.dilH), g(F.dilW), g(F.offT), g(F.offL), Hp, Wp);
    ctx.kernels.conv_plan(
      g(F.plan),
      g(F.y) + n * g(F.yImgBytes),
      scratch,
      g(F.wp),
      g(F.bp),
      g(F.N),
      g(F.K),
      Wp * C * 4,
      byImage ? 0 : index,
      byImage ? 1 : count,
      0,
    );
  }
}

function runDw(
  a: Int32Array,
  index: number,
  count: number,
  slot: number,
  ctx: TaskContext,
): void {
  const g = (k: number) => a[k]!;
  const k = ctx.kernels;
  const batch = g(D.batch), inC = g(D.inC), outH = g(D.outH), outW = g(D.outW), outC = g(D.outC);
  const kH = g(D.kH), kW = g(D.kW), B = g(D.B), K = kH * kW * inC;
  const Hp = g(D.Hp), Wp = g(D.Wp);
  const accFloats = dwAccFloats(K, outC, B);
  const acc = g(D.scratch) + index * g(D.scratchPer);
  const dbAcc = acc + dwMainFloats(K, outC, B) * 4;
  const work = g(D.work) + slot * g(D.workPer);
  const driver = dwDirect(inC, K, outC)
    ? k.conv_dw_direct
    : dwTapRows(K, outC)
    ? k.conv_dw_taps
    : k.conv_dw;
  const buf = ctx.memory.buffer;
  k.zero(acc, accFloats * 4);
  const hasDb = g(D.hasDb) === 1;
  const list = g(D.list), dy0 = g(D.dy);
  /** Pixels [q0, q1) of the list over the image at `x`, in chunks; dy from `dy` (pixel q0). */
  const pixels = (
    x: number,
    dy: number,
    q0: number,
    q1: number,
    kh: number,
    kw: number,
    rb: number,
  ) => {
    for (let q = q0; q < q1; q += DW_CHUNK_PIXELS) {
      const m = Math.min(DW_CHUNK_PIXELS, q1 - q);
      const dyq = dy + (q - q0) * outC * 4;
      driver(acc, x, dyq, list + q * 4, m, outC, inC, kh, kw, rb, work);
      // The bias sums while the block's dy is still in cache.
      if (hasDb) k.colsum(dbAcc, dyq, m, outC);
    }
  };
  if (g(D.dense) === 1) {
    // The batch is one image of `batch` pixels.
    const [p0, p1] = claimShare(batch, index, count);
    pixels(g(D.x), dy0 + p0 * outC * 4, p0, p1, 1, 1, 0);
    return;
  }
  if (outH === 0 || outW === 0) return;
  const npix = outH * outW;
  const rowBytes = Wp * inC * 4;
  if (g(D.pad) === 0) {
    // The list covers the whole batch: a share of its pixels, across image boundaries.
    const [p0, p1] = claimShare(batch * npix, index, count);
    pixels(g(D.x), dy0 + p0 * outC * 4, p0, p1, kH, kW, rowBytes);
    return;
  }
  // Padded: one image at a time through a private zero-padded copy. Whole images per chunk,
  // or, with fewer images than chunks, a share of every image's pixels.
  const inH = g(D.inH), inW = g(D.inW);
  const img = work + dwWorkFloats(K, outC, B) * 4;
  const src = new Float32Array(buf, g(D.x), batch * inH * inW * inC);
  const dst = new Float32Array(buf, img, Hp * Wp * inC);
  const byImage = batch >= count;
  const [n0, n1] = byImage ? share(batch, index, count) : [0, batch];
  const [q0, q1] = byImage ? [0, npix] : share(npix, index, count);
  if (q1 <= q0) return;
  for (let n = n0; n < n1; n++) {
    embed(dst, src, n, inH, inW, inC, 1, 1, g(D.padT), g(D.padL), Hp, Wp);
    pixels(img, dy0 + (n * npix + q0) * outC * 4, q0, q1, kH, kW, rowBytes);
  }
}

/**
 * Byte offsets of the window of each output pixel of `batch` images (`outH` x `outW` pixels,
 * strides sH and sW, input images `H` x `W` of `C` channels) from the first image's start: the
 * pixel list of `conv_dw`.
 */
export function dwOffsets(
  batch: number,
  outH: number,
  outW: number,
  sH: number,
  sW: number,
  H: number,
  W: number,
  C: number,
): Int32Array {
  const list = new Int32Array(batch * outH * outW);
  let p = 0;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) list[p++] = ((n * H + oh * sH) * W + ow * sW) * C * 4;
    }
  }
  return list;
}
