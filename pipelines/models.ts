/**
 * The lecture's two MNIST networks: the CNN (131,242 parameters) and the Dense(512) comparison
 * network (407,050 parameters), exactly as the Keras example builds them.
 *
 * @module
 */

import type { Backend } from "../engine/backend.ts";
import { Conv2D } from "../layers/conv2d.ts";
import { Dense } from "../layers/dense.ts";
import { Flatten } from "../layers/flatten.ts";
import { MaxPooling2D } from "../layers/max_pooling2d.ts";
import { Sequential } from "./sequential.ts";

/** Options shared by the model builders. */
export interface ModelOptions {
  /** Seed of the model's generator (default 0). */
  seed?: number;
  /** The compute backend (default: the CPU backend). */
  backend?: Backend;
}

function modelOptions(options: ModelOptions) {
  return {
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  };
}

/**
 * The lecture's CNN: two 3x3 conv layers (32), max-pool, two 3x3 conv layers (64), max-pool,
 * flatten, Dense(64, relu), Dense(10, softmax).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mnistCnn } from "./models.ts";
 * assert(mnistCnn().countParams() === 131242);
 * ```
 */
export function mnistCnn(options: ModelOptions = {}): Sequential {
  const model = new Sequential(modelOptions(options));
  model.add(
    new Conv2D({ filters: 32, kernelSize: [3, 3], activation: "relu", inputShape: [28, 28, 1] }),
  );
  model.add(new Conv2D({ filters: 32, kernelSize: [3, 3], activation: "relu" }));
  model.add(new MaxPooling2D({ poolSize: [2, 2] }));
  model.add(new Conv2D({ filters: 64, kernelSize: [3, 3], activation: "relu" }));
  model.add(new Conv2D({ filters: 64, kernelSize: [3, 3], activation: "relu" }));
  model.add(new MaxPooling2D({ poolSize: [2, 2] }));
  model.add(new Flatten());
  model.add(new Dense({ units: 64, activation: "relu" }));
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}

/** The lecture's Dense comparison network: Flatten, Dense(512, relu), Dense(10, softmax) on 784 inputs. */
export function mnistDense(options: ModelOptions = {}): Sequential {
  const model = new Sequential(modelOptions(options));
  model.add(new Dense({ units: 512, activation: "relu", inputShape: [784] }));
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}
