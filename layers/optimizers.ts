/**
 * Optimizers, simplest first, each a loop over the model's flat parameter and gradient buffers
 * (all parameters live in one allocation, so one loop updates every layer). Update rules and
 * defaults are tf.keras 2.x's (the project's reference): RMSprop and Adam divide by sqrt(v) + eps.
 *
 * @module
 */

import type { Backend } from "../engine/backend.ts";

/** A contiguous range of trainable parameters in the flat buffers. */
export interface ParamRange {
  /** First index of the range in the flat buffers (inclusive). */
  readonly start: number;
  /** One past the last index of the range (exclusive). */
  readonly end: number;
}

/** An optimizer updates `values` from `grads` over the trainable ranges. */
export interface Optimizer {
  /** Keras's name, e.g. `rmsprop`. */
  readonly name: string;
  /** Step size; may be changed between steps (e.g. by a scheduler). */
  learningRate: number;
  /**
   * Applies one update. With `backend`, an optimizer may run it there (RMSprop does, where the
   * backend has `rmspropUpdate`): the result is bitwise the same.
   */
  step(
    values: Float32Array,
    grads: Float32Array,
    ranges: readonly ParamRange[],
    backend?: Backend,
  ): void;
  /** Slot variables and iteration count, for checkpoints. */
  getState(): { iterations: number; slots: Record<string, Float32Array> };
  /** Restores what {@linkcode Optimizer.getState} returned. */
  setState(state: { iterations: number; slots: Record<string, Float32Array> }): void;
  /** The Keras/TF.js config. */
  getConfig(): Record<string, unknown>;
}

function checkRate(name: string, option: string, value: number, lo: number, hi: number): number {
  if (typeof value !== "number" || !(value >= lo && value <= hi)) {
    throw new RangeError(
      `Cannot create ${name} as ${option} must be a number in [${lo}, ${hi}]: current value is ${value}`,
    );
  }
  return value;
}

function slot(slots: Record<string, Float32Array>, key: string, size: number): Float32Array {
  let s = slots[key];
  if (s === undefined || s.length !== size) {
    s = new Float32Array(size);
    slots[key] = s;
  }
  return s;
}

abstract class BaseOptimizer implements Optimizer {
  abstract readonly name: string;
  learningRate: number;
  iterations = 0;
  protected slots: Record<string, Float32Array> = {};

  constructor(learningRate: number, className: string) {
    this.learningRate = checkRate(className, "learningRate", learningRate, 0, Infinity);
  }

  abstract step(
    values: Float32Array,
    grads: Float32Array,
    ranges: readonly ParamRange[],
    backend?: Backend,
  ): void;

  getState() {
    const slots: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(this.slots)) slots[k] = v.slice();
    return { iterations: this.iterations, slots };
  }

  setState(state: { iterations: number; slots: Record<string, Float32Array> }): void {
    this.iterations = state.iterations;
    this.slots = {};
    for (const [k, v] of Object.entries(state.slots)) this.slots[k] = v.slice();
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate };
  }
}

/** SGD options. */
export interface SGDOptions {
  /** Default 0.01. */
  learningRate?: number;
  /** Default 0. */
  momentum?: number;
  /** Default false. */
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional (Nesterov) momentum: m = mu m - lr g; w += m. */
export class SGD extends BaseOptimizer {
  /** Keras's name, `sgd`. */
  readonly name = "sgd";
  /** Momentum factor mu in [0, 1]; 0 means plain SGD (default 0). */
  readonly momentum: number;
  /** Whether to use Nesterov momentum (default false). */
  readonly nesterov: boolean;

  /** Creates SGD (default learning rate 0.01); throws on out-of-range options. */
  constructor(options: SGDOptions = {}) {
    super(options.learningRate ?? 0.01, "SGD");
    this.momentum = checkRate("SGD", "momentum", options.momentum ?? 0, 0, 1);
    this.nesterov = options.nesterov ?? false;
  }

  /** Applies one SGD update to `values` over the trainable ranges. */
  step(values: Float32Array, grads: Float32Array, ranges: readonly ParamRange[]): void {
    const lr = this.learningRate, mu = this.momentum;
    this.iterations++;
    if (mu === 0) {
      for (const { start, end } of ranges) {
        for (let i = start; i < end; i++) values[i]! -= lr * grads[i]!;
      }
      return;
    }
    const m = slot(this.slots, "momentum", values.length);
    for (const { start, end } of ranges) {
      for (let i = start; i < end; i++) {
        const g = grads[i]!;
        const mi = mu * m[i]! - lr * g;
        m[i] = mi;
        values[i]! += this.nesterov ? mu * mi - lr * g : mi;
      }
    }
  }

  /** The Keras/TF.js config, with `momentum` and `nesterov`. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), momentum: this.momentum, nesterov: this.nesterov };
  }
}

/** RMSprop options. */
export interface RMSpropOptions {
  /** Default 0.001. */
  learningRate?: number;
  /** Default 0.9. */
  rho?: number;
  /** Default 0. */
  momentum?: number;
  /** Default 1e-7. */
  epsilon?: number;
}

/**
 * RMSprop as tf.keras 2.x applies it (the project's reference): v = rho v + (1 - rho) g^2, then
 * w -= lr g / (sqrt(v) + eps); with momentum, m = mu m + lr g / sqrt(v + eps) and w -= m (TF's
 * fused ApplyRMSProp). Keras 3 puts eps inside the square root in both cases; with eps = 1e-7
 * that floors the denominator at 3.2e-4 and slows every weight whose gradient is smaller.
 */
export class RMSprop extends BaseOptimizer {
  /** Keras's name, `rmsprop`. */
  readonly name = "rmsprop";
  /** Decay rate of the squared-gradient average (default 0.9). */
  readonly rho: number;
  /** Momentum factor in [0, 1] (default 0). */
  readonly momentum: number;
  /** Small constant added to the denominator (default 1e-7). */
  readonly epsilon: number;

  /** Creates RMSprop (default learning rate 0.001); throws on out-of-range options. */
  constructor(options: RMSpropOptions = {}) {
    super(options.learningRate ?? 0.001, "RMSprop");
    this.rho = checkRate("RMSprop", "rho", options.rho ?? 0.9, 0, 1);
    this.momentum = checkRate("RMSprop", "momentum", options.momentum ?? 0, 0, 1);
    this.epsilon = checkRate("RMSprop", "epsilon", options.epsilon ?? 1e-7, 0, Infinity);
  }

  /** The velocity slot as it was last moved into a backend's memory, and that backend. */
  #homed: { velocity: Float32Array; backend: Backend } | null = null;

  /**
   * Applies one RMSprop update to `values` over the trainable ranges; without momentum, through
   * `backend.rmspropUpdate` where it has one (bitwise the same, in parallel on the wasm backend).
   */
  step(
    values: Float32Array,
    grads: Float32Array,
    ranges: readonly ParamRange[],
    backend?: Backend,
  ): void {
    const lr = this.learningRate, rho = this.rho, eps = this.epsilon, mu = this.momentum;
    this.iterations++;
    let v = slot(this.slots, "velocity", values.length);
    const m = mu > 0 ? slot(this.slots, "momentum", values.length) : null;
    const fast = m === null ? backend : undefined;
    if (fast?.rmspropUpdate !== undefined) {
      // The slot must live in the backend's memory: move it there once (it starts as a plain
      // array, and setState replaces it with one).
      if (this.#homed?.velocity !== v || this.#homed.backend !== fast) {
        const moved = fast.alloc(v.length);
        moved.set(v);
        this.slots.velocity = v = moved;
        this.#homed = { velocity: moved, backend: fast };
      }
    }
    const hyper = { learningRate: lr, rho, epsilon: eps };
    for (const { start, end } of ranges) {
      if (fast?.rmspropUpdate?.(values, grads, v, start, end, hyper)) continue;
      for (let i = start; i < end; i++) {
        const g = grads[i]!;
        const vi = rho * v[i]! + (1 - rho) * g * g;
        v[i] = vi;
        if (m === null) values[i]! -= lr * g / (Math.sqrt(vi) + eps);
        else {
          const mi = mu * m[i]! + lr * g / Math.sqrt(vi + eps);
          m[i] = mi;
          values[i]! -= mi;
        }
      }
    }
  }

  /** The Keras/TF.js config, with `rho`, `momentum` and `epsilon`. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), rho: this.rho, momentum: this.momentum, epsilon: this.epsilon };
  }
}

/** Adam options. */
export interface AdamOptions {
  /** Default 0.001. */
  learningRate?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-7. */
  epsilon?: number;
}

/**
 * Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
 * w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).
 */
export class Adam extends BaseOptimizer {
  /** Keras's name, `adam`. */
  readonly name = "adam";
  /** Decay rate of the first-moment estimate (default 0.9). */
  readonly beta1: number;
  /** Decay rate of the second-moment estimate (default 0.999). */
  readonly beta2: number;
  /** Small constant added to the denominator (default 1e-7). */
  readonly epsilon: number;

  /** Creates Adam (default learning rate 0.001); throws on out-of-range options. */
  constructor(options: AdamOptions = {}) {
    super(options.learningRate ?? 0.001, "Adam");
    this.beta1 = checkRate("Adam", "beta1", options.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkRate("Adam", "beta2", options.beta2 ?? 0.999, 0, 1);
    this.epsilon = checkRate("Adam", "epsilon", options.epsilon ?? 1e-7, 0, Infinity);
  }

  /** Applies one bias-corrected Adam update to `values` over the trainable ranges. */
  step(values: Float32Array, grads: Float32Array, ranges: readonly ParamRange[]): void {
    const b1 = this.beta1, b2 = this.beta2, eps = this.epsilon;
    this.iterations++;
    const t = this.iterations;
    const alpha = this.learningRate * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t);
    const m = slot(this.slots, "m", values.length);
    const v = slot(this.slots, "v", values.length);
    for (const { start, end } of ranges) {
      for (let i = start; i < end; i++) {
        const g = grads[i]!;
        const mi = m[i]! + (g - m[i]!) * (1 - b1);
        const vi = v[i]! + (g * g - v[i]!) * (1 - b2);
        m[i] = mi;
        v[i] = vi;
        values[i]! -= alpha * mi / (Math.sqrt(vi) + eps);
      }
    }
  }

  /** The Keras/TF.js config, with `beta1`, `beta2` and `epsilon`. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}

/** Looks an optimizer up by name (`sgd`, `rmsprop`, `adam`) or passes an Optimizer through. */
export function getOptimizer(optimizer: string | Optimizer, learningRate?: number): Optimizer {
  if (typeof optimizer !== "string") return optimizer;
  const lr = learningRate === undefined ? {} : { learningRate };
  switch (optimizer.toLowerCase()) {
    case "sgd":
      return new SGD(lr);
    case "rmsprop":
      return new RMSprop(lr);
    case "adam":
      return new Adam(lr);
  }
  throw new RangeError(
    `Cannot compile the model as optimizer must be one of sgd, rmsprop, adam: current value is "${optimizer}"`,
  );
}
