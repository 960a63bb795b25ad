// Option validation shared by the layer constructors. Messages follow Deno std's form and name
// the option and the value received: "Cannot build Conv2D as strides must be a positive integer
// or a pair of them: current value is 0".

import type { Padding } from "../engine/conv_info.ts";
import { ACTIVATION_NAMES, type ActivationName } from "../engine/kernels/activations.ts";

function show(value: unknown): string {
  if (typeof value === "number") return String(value); // JSON.stringify(NaN) is "null"
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value) ?? String(value);
}

/** A positive integer option. */
export function positiveInt(layer: string, option: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(
      `Cannot build ${layer} as ${option} must be a positive integer: current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/** An int or a pair of positive ints (Keras accepts `3` or `(3, 3)`). */
export function intPair(layer: string, option: string, value: unknown): [number, number] {
  const pair = typeof value === "number" ? [value, value] : value;
  if (
    !Array.isArray(pair) || pair.length !== 2 ||
    !pair.every((v) => typeof v === "number" && Number.isInteger(v) && v > 0)
  ) {
    throw new RangeError(
      `Cannot build ${layer} as ${option} must be a positive integer or a pair of them: current value is ${
        show(value)
      }`,
    );
  }
  return [pair[0] as number, pair[1] as number];
}

/** `valid` or `same` (case-insensitive, as Keras). */
export function padding(layer: string, value: unknown): Padding {
  const v = typeof value === "string" ? value.toLowerCase() : value;
  if (v !== "valid" && v !== "same") {
    throw new RangeError(
      `Cannot build ${layer} as padding must be "valid" or "same": current value is ${show(value)}`,
    );
  }
  return v;
}

/** An activation name; `null`/undefined mean linear, as in Keras. */
export function activation(layer: string, value: unknown): ActivationName {
  if (value === undefined || value === null) return "linear";
  if (typeof value !== "string" || !ACTIVATION_NAMES.includes(value as ActivationName)) {
    throw new RangeError(
      `Cannot build ${layer} as activation must be one of ${
        ACTIVATION_NAMES.join(", ")
      }: current value is ${show(value)}`,
    );
  }
  return value as ActivationName;
}

/** A rate in [0, 1). */
export function rate(layer: string, option: string, value: unknown): number {
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new RangeError(
      `Cannot build ${layer} as ${option} must be a number in [0, 1): current value is ${
        show(value)
      }`,
    );
  }
  return value;
}

/** A boolean option. */
export function bool(layer: string, option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(
      `Cannot build ${layer} as ${option} must be a boolean: current value is ${show(value)}`,
    );
  }
  return value;
}

/** Checks the rank of a per-example input shape. */
export function expectRank(layer: string, shape: readonly number[], rank: number, what: string) {
  if (shape.length !== rank) {
    throw new TypeError(
      `Cannot apply ${layer} to an input of shape [${shape}]: expected ${what} (rank ${rank} per example)`,
    );
  }
}
