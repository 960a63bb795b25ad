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
  loss: number;
  accuracy: number;
  val_loss?: number;
  val_accuracy?: number;
  /** Wall time of the epoch in seconds, validation included. */
  seconds?: number;
}

/** Running metrics of the epoch so far. */
export interface BatchLogs {
  readonly loss: number;
  readonly accuracy: number;
}

/** A training sink; every hook is optional. */
export interface Callback {
  onTrainBegin?(info: { epochs: number; steps: number | undefined }): void;
  onEpochBegin?(epoch: number): void;
  onBatchEnd?(step: StepMetrics, logs: BatchLogs): void;
  onEpochEnd?(epoch: number, logs: EpochLogs): void;
  onTrainEnd?(history: { epoch: number[]; history: Record<string, number[]> }): void;
}
