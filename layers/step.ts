/**
 * The values that flow through a training or inference stream: a minibatch, and the state of one
 * step as it passes the layer operators, the loss, the backward pass and the optimizer.
 *
 * @module
 */

import type { Tensor } from "../engine/tensor.ts";
import type { Tape } from "./layer.ts";

/** A minibatch: inputs `[N, ...]` and targets `[N, ...]` (one-hot, or integer labels `[N]`). */
export interface Batch {
  /** The inputs, (N, ...). */
  readonly x: Tensor;
  /** The targets: one-hot (N, classes) or integer labels (N). */
  readonly y: Tensor;
}

/** One step in flight: the batch, the current activation, and what the loss found. */
export interface Step {
  /** The minibatch being trained or evaluated. */
  readonly batch: Batch;
  /** The activation after the layers run so far (the model's output after the last one). */
  readonly x: Tensor;
  /** What the forwards saved for the backward; null for inference. */
  readonly tape: Tape | null;
  /** Mean loss of the batch, once the loss operator has run. */
  readonly loss?: number;
  /** Correct predictions in the batch (for `accuracy`). */
  readonly correct?: number;
  /** dL/d(output), once the loss operator has run. */
  readonly dy?: Tensor;
  /** Whether `dy` is already the gradient with respect to the last layer's logits. */
  readonly fromLogits?: boolean;
  /** Set when the step's loss or gradients were not finite and the update is skipped. */
  readonly skipUpdate?: boolean;
}

/** What a training step reports to the sinks. */
export interface StepMetrics {
  /** 1-based step within the epoch. */
  readonly step: number;
  /** Examples in the batch. */
  readonly size: number;
  /** Mean loss of the batch. */
  readonly loss: number;
  /** Correct predictions in the batch. */
  readonly correct: number;
  /** Wall time of the step in milliseconds. */
  readonly ms: number;
}
