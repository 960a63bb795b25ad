/**
 * A training step as a pipeline of RxJS operators: forward (one operator per layer, recording on
 * the step's tape), loss, backward (the layers in reverse), optimizer. `model.fit()` is built on
 * `train(model)`; scripts can compose the same operators with their own sources and sinks.
 *
 * ```
 * batches.pipe(train(model))   // Observable<StepMetrics>
 * ```
 *
 * @module
 */

import { concatMap, defer, map, of, type OperatorFunction, pipe, retry, throwError } from "rxjs";
import { KernelFaultError } from "../engine/backend.ts";
import { Conv2D } from "../layers/conv2d.ts";
import { Tape } from "../layers/layer.ts";
import type { Loss } from "../layers/losses.ts";
import { MaxPooling2D } from "../layers/max_pooling2d.ts";
import type { Optimizer } from "../layers/optimizers.ts";
import { layerOperator, type OperatorContext } from "../layers/operator.ts";
import type { Batch, Step, StepMetrics } from "../layers/step.ts";
import type { Sequential } from "./sequential.ts";

/**
 * Batches in, steps out: the model's forward pass, one operator per layer, except that a Conv2D
 * followed by a 2x2 MaxPooling2D is one operator that pools in the convolution's store
 * (`Conv2D.forwardPooled`: the same numbers, forward and backward, with the convolution's full
 * output never written nor read again).
 */
export function forward(
  model: Sequential,
  options: { training: boolean },
): OperatorFunction<Batch, Step> {
  model.build(); // allocates the parameters once; a no-op when fit or predict already did
  const ctx = { backend: model.backend, training: options.training, random: model.random };
  const start = map((batch: Batch): Step => ({
    batch,
    x: batch.x,
    tape: options.training ? new Tape() : null,
  }));
  const ops: OperatorFunction<Step, Step>[] = [];
  const layers = model.layers;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!, next = layers[i + 1];
    if (layer instanceof Conv2D && next instanceof MaxPooling2D) {
      ops.push(convPoolOperator(layer, next, ctx));
      i++;
    } else {
      ops.push(layerOperator(layer, ctx));
    }
  }
  return ops.reduce<OperatorFunction<Batch, Step>>((acc, op) => pipe(acc, op), start);
}

/** Inference: `conv` then `pool` in one backend call where they fuse, else one after the other. */
function convPoolOperator(
  conv: Conv2D,
  pool: MaxPooling2D,
  ctx: OperatorContext,
): OperatorFunction<Step, Step> {
  return map((step) => {
    const run = { ...ctx, tape: step.tape };
    const fused = conv.forwardPooled(step.x, run, pool);
    return { ...step, x: fused ?? pool.forward(conv.forward(step.x, run), run) };
  });
}

/** Computes the loss, the number of correct predictions and, when training, dL/d(output). */
export function loss(model: Sequential): OperatorFunction<Step, Step> {
  return map((step) => {
    const { loss: fn, fused } = model.compiled();
    const training = step.tape !== null;
    const dy = training ? model.outputGradientBuffer(step.x.data.length) : null;
    const value = fn.compute(dy, step.x, step.batch.y, fused);
    const correct = fn.countCorrect(step.x, step.batch.y);
    return {
      ...step,
      loss: value,
      correct,
      ...(dy === null ? {} : { dy: { shape: step.x.shape, data: dy }, fromLogits: fused }),
    };
  });
}

/** Walks the layers in reverse, accumulating every parameter gradient (zeroed first). */
export function backward(model: Sequential): OperatorFunction<Step, Step> {
  return map((step) => {
    const ctx = { backend: model.backend, training: true, random: model.random, tape: step.tape };
    model.zeroGradients();
    let dy = step.dy!;
    const layers = model.layers;
    // A relu's backward is folded into the next layer's dx where that layer can (a Conv2D
    // after a relu Conv2D: in the store of its input gradient), instead of a pass of its own.
    let folded = false;
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!, prev = layers[i - 1];
      const fold = prev !== undefined && layer.foldsInputRelu && prev.endsInRelu;
      const dx = layer.backward(dy, ctx, {
        fromLogits: i === layers.length - 1 && step.fromLogits === true,
        skipInputGradient: i === 0,
        foldInputRelu: fold,
        preActivation: folded,
      });
      folded = fold && dx !== null;
      if (dx !== null) dy = dx;
    }
    return step;
  });
}

/** Applies the compiled optimizer to the accumulated gradients (unless the step is skipped). */
export function optimize(model: Sequential): OperatorFunction<Step, Step> {
  return map((step) => {
    if (!step.skipUpdate) model.applyGradients();
    return step;
  });
}

/** What to do with a non-finite loss or gradient: fail the run, or skip that step's update. */
export type OnNan = "stop" | "skip";

/** A non-finite loss or gradient; names the epoch, the step and the first layer affected. */
export class NumericalFaultError extends Error {
  /** Always `NumericalFaultError`. */
  override name = "NumericalFaultError";
  /** Creates the error for `step` of `epoch`. */
  constructor(message: string, readonly epoch: number, readonly step: number) {
    super(message);
  }
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    // v - v is NaN for NaN and for +-Infinity
    if (v - v !== 0) return false;
  }
  return true;
}

/** Finds where non-finite values first appear: the input, a layer's output, or a gradient. */
export function locateNonFinite(model: Sequential, step: Step): string {
  if (!allFinite(step.batch.x.data)) return "the input batch";
  const ctx = { backend: model.backend, training: false, random: model.random, tape: null };
  let x = step.batch.x;
  for (const layer of model.layers) {
    x = layer.forward(x, ctx);
    if (!allFinite(x.data)) return `the output of layer "${layer.name}" (${layer.className})`;
  }
  const layers = model.store.layers;
  for (let i = layers.length - 1; i >= 0; i--) {
    for (const p of layers[i]!.params) {
      if (!allFinite(p.grad)) {
        return `the gradient of ${layers[i]!.layer.name}/${p.name} (${layers[i]!.layer.className})`;
      }
    }
  }
  return "the loss";
}

/**
 * Checks the loss and every gradient for NaN and infinity before the update: `stop` throws a
 * {@linkcode NumericalFaultError} naming the step and the first layer where the values appeared
 * (the update is not applied, so the weights stay those of the last good step); `skip` drops the
 * step's update and training goes on.
 */
export function checkFinite(
  model: Sequential,
  onNan: OnNan,
  where: (i: number) => { epoch: number; step: number } = (i) => ({ epoch: 0, step: i + 1 }),
): OperatorFunction<Step, Step> {
  return map((step, i) => {
    const grads = model.store.grads;
    const finite = model.backend.allFinite?.(grads) ?? allFinite(grads);
    if (Number.isFinite(step.loss) && finite) return step;
    const { epoch, step: stepNo } = where(i);
    if (onNan === "skip") {
      model.nonFiniteSteps++;
      return { ...step, skipUpdate: true };
    }
    throw new NumericalFaultError(
      `Non-finite loss or gradient at epoch ${epoch + 1}, step ${stepNo} (loss ${step.loss}): ` +
        `first non-finite values in ${locateNonFinite(model, step)}`,
      epoch,
      stepNo,
    );
  });
}

/** Options of {@linkcode train}: compile the model on the way (for scripts that skip `compile`). */
export interface TrainOptions {
  /** An optimizer name (`rmsprop`, `adam`, `sgd`) or object; keeps the compiled one if omitted. */
  optimizer?: string | Optimizer;
  /** A loss name or object; keeps the compiled one (or categorical cross-entropy) if omitted. */
  loss?: string | Loss;
  /** How often a step failed by a `KernelFaultError` is rerun (default: `model.retrySteps`). */
  retrySteps?: number;
}

/**
 * One training step per batch: forward, loss, backward, optimizer; emits the step's metrics.
 * Steps are numbered from 1 per subscription (per epoch).
 */
export function train(
  model: Sequential,
  options: TrainOptions = {},
): OperatorFunction<Batch, StepMetrics> {
  if (options.optimizer !== undefined || options.loss !== undefined) {
    const current = model.isCompiled ? model.compiled() : null;
    model.compile({
      optimizer: options.optimizer ?? current?.optimizer ?? "rmsprop",
      loss: options.loss ?? current?.loss ?? "categorical_crossentropy",
    });
  }
  const retries = options.retrySteps ?? model.retrySteps;
  return (source) =>
    defer(() => {
      // numbered per subscription; inside fit, where the epoch (and a resumed step) is known
      let index = 0;
      const where = () => {
        const p = model.progress;
        return model.isFitting && p !== null
          ? { epoch: p.epoch, step: p.step + 1 }
          : { epoch: 0, step: index + 1 };
      };
      const step = pipe(
        forward(model, { training: true }),
        loss(model),
        backward(model),
        checkFinite(model, model.onNan, where),
        optimize(model),
      );
      return source.pipe(concatMap((batch: Batch) => {
        const started = performance.now();
        const random = model.random.getState();
        let attempt = 0;
        // a step whose kernel machinery failed (KernelFaultError) is rerun from the same batch
        // and generator state: the failure came before the update, so the rerun is the step it
        // would have been; any other error fails the stream at once
        return defer(() => {
          if (attempt++ > 0) model.random.setState(random);
          return of(batch).pipe(step);
        }).pipe(
          retry({
            count: retries,
            delay: (error) => {
              if (!(error instanceof KernelFaultError)) return throwError(() => error);
              model.retriedSteps++;
              return of(0);
            },
          }),
          map((s): StepMetrics => ({
            step: ++index,
            size: s.batch.x.shape[0]!,
            loss: s.loss!,
            correct: s.correct!,
            ms: performance.now() - started,
          })),
        );
      }));
    });
}

/** Forward and loss only (no tape, no update): emits each batch's metrics. */
export function evaluate(model: Sequential): OperatorFunction<Batch, StepMetrics> {
  let started = 0;
  return pipe(
    map((batch: Batch) => {
      started = performance.now();
      return batch;
    }),
    forward(model, { training: false }),
    loss(model),
    map((step, i): StepMetrics => ({
      step: i + 1,
      size: step.batch.x.shape[0]!,
      loss: step.loss!,
      correct: step.correct!,
      ms: performance.now() - started,
    })),
  );
}
