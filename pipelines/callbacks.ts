/**
 * Callbacks: the sinks `fit` feeds, with Keras's hook names in TF.js's camelCase. Logs use Keras's
 * snake_case metric keys (`loss`, `accuracy`, `val_loss`, `val_accuracy`) so `history.history`
 * reads as in Python.
 *
 * @module
 */

import type { StepMetrics } from "../layers/step.ts";

/** Metrics of an epoch. */
export interface EpochLogs {
  /** Mean training loss over the epoch. */
  loss: number;
  /** Training accuracy over the epoch, in [0, 1]. */
  accuracy: number;
  /** Mean validation loss, when there is validation data. */
  val_loss?: number;
  /** Validation accuracy in [0, 1], when there is validation data. */
  val_accuracy?: number;
  /** Wall time of the epoch in seconds, validation included. */
  seconds?: number;
}

/** Running metrics of the epoch so far. */
export interface BatchLogs {
  /** Mean loss over the epoch's steps so far. */
  readonly loss: number;
  /** Accuracy over the epoch's steps so far, in [0, 1]. */
  readonly accuracy: number;
}

/** A training sink; every hook is optional. */
export interface Callback {
  /** Called once before training, with the epoch count and steps per epoch (if known). */
  onTrainBegin?(info: { epochs: number; steps: number | undefined }): void;
  /** Called at the start of each epoch (0-based). */
  onEpochBegin?(epoch: number): void;
  /** Called after each training step with its metrics and the running logs. */
  onBatchEnd?(step: StepMetrics, logs: BatchLogs): void;
  /** Called at the end of each epoch (0-based) with its metrics. */
  onEpochEnd?(epoch: number, logs: EpochLogs): void;
  /** Called once after training with the history. */
  onTrainEnd?(history: { epoch: number[]; history: Record<string, number[]> }): void;
}
