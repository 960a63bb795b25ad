/**
 * Pixel plans for the `conv_plan` kernel: the output pixels of a convolution grouped into classes
 * by their valid kernel rectangle, each pixel given as a (yOffset, xOffset) byte pair.
 *
 * A padded convolution (`same`) and the input gradient of a stride-1 convolution (a "full"
 * correlation of `dy` with the flipped kernel) read outside the image near its border. Instead of
 * copying each image into a zero-padded buffer and multiplying the zeros (what the first version
 * of this backend did: 17-56% extra work for the seed CNN's input gradients), the plan clips
 * every pixel's window to the image. Pixels whose clipped window is the same rectangle share one
 * class, so the register tile still runs over a contiguous walk of taps; the interior of the
 * image is one big class and the border a few small ones (at most (2kH-1) x (2kW-1) for stride 1).
 *
 * A plan depends only on shapes, so the backend builds it once per shape and keeps it in shared
 * memory; offsets are relative to the `y` and `x` pointers of each call.
 *
 * @module
 */

import { PLAN_CLASS_INTS, PLAN_HEADER_INTS } from "./codegen.ts";

/** Shapes of one direct convolution as `conv_plan` sees it (input `x`, output `y`, NHWC). */
export interface PlanGeometry {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  /** Input channels: the taps of one kernel position. */
  readonly C: number;
  readonly outH: number;
  readonly outW: number;
  /** Output channels. */
  readonly N: number;
  readonly kH: number;
  readonly kW: number;
  readonly sH: number;
  readonly sW: number;
  /** Rows (columns) of implicit zero padding before the image; the windows are clipped to it. */
  readonly padT: number;
  readonly padL: number;
}

/** A run of output positions along one axis whose clipped window is [lo, hi) of the kernel. */
interface Span {
  readonly o0: number;
  readonly o1: number;
  readonly lo: number;
  readonly hi: number;
}

/** Maximal runs of output positions with the same clipped kernel range along one axis. */
function spans(out: number, k: number, s: number, pad: number, inLen: number): Span[] {
  const result: Span[] = [];
  for (let o = 0; o < out; o++) {
    const lo = Math.max(0, pad - o * s);
    const hi = Math.max(lo, Math.min(k, inLen + pad - o * s));
    const last = result[result.length - 1];
    if (last !== undefined && last.lo === lo && last.hi === hi) {
      result[result.length - 1] = { ...last, o1: o + 1 };
    } else result.push({ o0: o, o1: o + 1, lo, hi });
  }
  return result;
}

/**
 * Builds the plan of a convolution: `[nClasses, 0, 0, 0]`, then per class `tapStart, kH, L,
 * skipTaps, count, listByteOffset, 0, 0`, then the lists of (yOffset, xOffset) byte pairs.
 * Empty windows (a pixel entirely in the padding) get `kH = 0`: the kernel writes the bias.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPlan } from "./plans.ts";
 * const plan = buildPlan({ batch: 1, inH: 4, inW: 4, C: 1, outH: 4, outW: 4, N: 1, kH: 3, kW: 3,
 *   sH: 1, sW: 1, padT: 1, padL: 1 });
 * assert(plan[0] === 9); // 3 row spans x 3 column spans
 * ```
 */
export function buildPlan(g: PlanGeometry): Int32Array {
  const rows = spans(g.outH, g.kH, g.sH, g.padT, g.inH);
  const cols = spans(g.outW, g.kW, g.sW, g.padL, g.inW);
  // Classes with the most pixels first: the interior, then the border strips.
  const classes: { r: Span; c: Span; size: number }[] = [];
  for (const r of rows) {
    for (const c of cols) classes.push({ r, c, size: (r.o1 - r.o0) * (c.o1 - c.o0) });
  }
  classes.sort((a, b) => b.size - a.size);
  const pixels = g.batch * g.outH * g.outW;
  const listStart = PLAN_HEADER_INTS + classes.length * PLAN_CLASS_INTS;
  const plan = new Int32Array(listStart + 2 * pixels);
  plan[0] = classes.length;
  let at = listStart;
  classes.forEach(({ r, c }, k) => {
    const rec = PLAN_HEADER_INTS + k * PLAN_CLASS_INTS;
    const nkh = r.hi - r.lo, nkw = c.hi - c.lo;
    const empty = nkh === 0 || nkw === 0;
    plan[rec] = empty ? 0 : (r.lo * g.kW + c.lo) * g.C;
    plan[rec + 1] = empty ? 0 : nkh;
    plan[rec + 2] = empty ? 0 : nkw * g.C;
    plan[rec + 3] = empty ? 0 : (g.kW - nkw) * g.C;
    plan[rec + 4] = g.batch * (r.o1 - r.o0) * (c.o1 - c.o0);
    plan[rec + 5] = at * 4;
    for (let n = 0; n < g.batch; n++) {
      for (let oh = r.o0; oh < r.o1; oh++) {
        const ih = oh * g.sH - g.padT + r.lo;
        for (let ow = c.o0; ow < c.o1; ow++) {
          const iw = ow * g.sW - g.padL + c.lo;
          plan[at++] = ((n * g.outH + oh) * g.outW + ow) * g.N * 4;
          plan[at++] = empty ? 0 : ((n * g.inH + ih) * g.inW + iw) * g.C * 4;
        }
      }
    }
  });
  return plan;
}

/** A stable key of a geometry, for caching plans. */
export function planKey(g: PlanGeometry): string {
  return [
    g.batch,
    g.inH,
    g.inW,
    g.C,
    g.outH,
    g.outW,
    g.N,
    g.kH,
    g.kW,
    g.sH,
    g.sW,
    g.padT,
    g.padL,
  ].join(",");
}
