/**
 * Layers as RxJS operators: the adapter that turns a layer's forward pass into an
 * `OperatorFunction<Step, Step>`. The forward records what its backward needs on the step's tape,
 * so a pipeline of these operators is exactly a model's forward pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { of } from "rxjs";
 * import { layerOperator } from "./operator.ts";
 * import { Flatten } from "./flatten.ts";
 * import { cpuBackend } from "../engine/backend.ts";
 * import { Random } from "../engine/random.ts";
 * import { tensor } from "../engine/tensor.ts";
 * const x = tensor([2, 3, 3, 1]);
 * of({ batch: { x, y: x }, x, tape: null })
 *   .pipe(layerOperator(new Flatten(), { backend: cpuBackend, training: false, random: new Random(0) }))
 *   .subscribe((step) => assert(step.x.shape.join() === "2,9"));
 * ```
 *
 * @module
 */

import { map, type OperatorFunction } from "rxjs";
import type { Layer, RunContext } from "./layer.ts";
import type { Step } from "./step.ts";

/** The run context without the tape, which each step brings along. */
export type OperatorContext = Omit<RunContext, "tape">;

/** Turns a layer's forward pass into an operator over steps. */
export function layerOperator(layer: Layer, ctx: OperatorContext): OperatorFunction<Step, Step> {
  return map((step) => ({
    ...step,
    x: layer.forward(step.x, {
      backend: ctx.backend,
      training: ctx.training,
      random: ctx.random,
      tape: step.tape,
    }),
  }));
}
