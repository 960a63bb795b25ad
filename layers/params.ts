/**
 * Parameter storage: every parameter of every layer lives in one values buffer and one gradients
 * buffer, cut into named views (llm.c's single allocation). Optimizers and checkpoints then walk
 * two flat arrays, and no layer writes its own save code.
 *
 * @module
 */

import type { Backend } from "../engine/backend.ts";
import type { Random } from "../engine/random.ts";
import type { Shape } from "../engine/tensor.ts";
import { sizeOf } from "../engine/tensor.ts";
import type { Layer, Param } from "./layer.ts";

/** The flat buffers and the layers' views into them. */
export interface ParamStore {
  /** All parameter values, one flat buffer. */
  readonly values: Float32Array;
  /** All parameter gradients, one flat buffer the size of `values`. */
  readonly grads: Float32Array;
  /** Per layer, in order: its params (views) and its offset range in the flat buffers. */
  readonly layers: { layer: Layer; params: Param[]; start: number; end: number }[];
}

/**
 * Computes every layer's shapes, allocates all parameters at once from the backend, initialises
 * them in layer order from `random`, and builds the layers. Returns the store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildLayers } from "./params.ts";
 * import { Dense } from "./dense.ts";
 * import { cpuBackend } from "../engine/backend.ts";
 * import { Random } from "../engine/random.ts";
 * const store = buildLayers([new Dense({ units: 3 })], [4], cpuBackend, new Random(1));
 * assert(store.values.length === 15);
 * ```
 */
export function buildLayers(
  layers: readonly Layer[],
  inputShape: Shape,
  backend: Backend,
  random: Random,
): ParamStore {
  const plan: { layer: Layer; inShape: Shape; specs: ReturnType<Layer["paramSpecs"]> }[] = [];
  let shape = inputShape;
  let total = 0;
  for (const layer of layers) {
    const specs = layer.paramSpecs(shape);
    for (const s of specs) total += sizeOf(s.shape);
    plan.push({ layer, inShape: shape, specs });
    shape = layer.computeOutputShape(shape);
  }
  const values = backend.alloc(total);
  const grads = backend.alloc(total);
  const out: ParamStore["layers"] = [];
  let offset = 0;
  for (const { layer, inShape, specs } of plan) {
    const start = offset;
    const params: Param[] = specs.map((s) => {
      const n = sizeOf(s.shape);
      const p: Param = {
        name: s.name,
        shape: s.shape,
        value: values.subarray(offset, offset + n),
        grad: grads.subarray(offset, offset + n),
      };
      s.initializer(p.value, s.shape, random);
      offset += n;
      return p;
    });
    layer.build(inShape, params);
    out.push({ layer, params, start, end: offset });
  }
  return { values, grads, layers: out };
}
