/**
 * Weight initializers, as Keras defines them. Fans follow Keras: for a kernel of shape
 * `[kh, kw, in, out]` (or `[in, out]`), fanIn = kh * kw * in and fanOut = kh * kw * out.
 *
 * @module
 */

import type { Random } from "../engine/random.ts";
import type { Shape } from "../engine/tensor.ts";

/** Fills `values` (of the given shape) from the seeded generator. */
export type Initializer = (values: Float32Array, shape: Shape, random: Random) => void;

/** Keras's fan computation (`_compute_fans`). */
export function computeFans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 1) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  if (shape.length === 2) return { fanIn: shape[0]!, fanOut: shape[1]! };
  let receptive = 1;
  for (const d of shape.slice(0, -2)) receptive *= d;
  return { fanIn: shape.at(-2)! * receptive, fanOut: shape.at(-1)! * receptive };
}

/** Names accepted for `kernelInitializer` / `biasInitializer` (Keras snake_case or TF.js camelCase). */
export const INITIALIZERS: Record<string, Initializer> = {
  zeros: (v) => v.fill(0),
  ones: (v) => v.fill(1),
  glorot_uniform: (v, shape, r) => {
    const { fanIn, fanOut } = computeFans(shape);
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < v.length; i++) v[i] = r.uniform(-limit, limit);
  },
  glorot_normal: (v, shape, r) => {
    const { fanIn, fanOut } = computeFans(shape);
    truncatedNormal(v, Math.sqrt(2 / (fanIn + fanOut)), r);
  },
  he_uniform: (v, shape, r) => {
    const limit = Math.sqrt(6 / computeFans(shape).fanIn);
    for (let i = 0; i < v.length; i++) v[i] = r.uniform(-limit, limit);
  },
  he_normal: (v, shape, r) => truncatedNormal(v, Math.sqrt(2 / computeFans(shape).fanIn), r),
};
INITIALIZERS.glorotUniform = INITIALIZERS.glorot_uniform!;
INITIALIZERS.glorotNormal = INITIALIZERS.glorot_normal!;
INITIALIZERS.heUniform = INITIALIZERS.he_uniform!;
INITIALIZERS.heNormal = INITIALIZERS.he_normal!;

/**
 * Keras's variance-scaling normal: a normal truncated at two standard deviations, with the
 * standard deviation corrected for the truncation (0.87962566103423978).
 */
function truncatedNormal(v: Float32Array, std: number, r: Random): void {
  const s = std / 0.87962566103423978;
  for (let i = 0; i < v.length; i++) {
    let z = r.normal();
    while (Math.abs(z) > 2) z = r.normal();
    v[i] = z * s;
  }
}

/** Looks an initializer up by name, with an error naming the option and the value received. */
export function getInitializer(name: string, option: string, layer: string): Initializer {
  const init = INITIALIZERS[name];
  if (init === undefined) {
    throw new RangeError(
      `Cannot build ${layer} as ${option} must be one of ${
        Object.keys(INITIALIZERS).join(", ")
      }: current value is "${name}"`,
    );
  }
  return init;
}

/** The TF.js config record of an initializer name (`{className, config}`). */
export function initializerConfig(
  name: string,
): { className: string; config: Record<string, unknown> } {
  const snake = name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  const classNames: Record<string, string> = {
    zeros: "Zeros",
    ones: "Ones",
    glorot_uniform: "GlorotUniform",
    glorot_normal: "GlorotNormal",
    he_uniform: "HeUniform",
    he_normal: "HeNormal",
  };
  const config: Record<string, unknown> = snake.startsWith("glorot") || snake.startsWith("he_")
    ? { seed: null }
    : {};
  return { className: classNames[snake] ?? name, config };
}
