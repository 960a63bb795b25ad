/**
 * The public API: Keras's MNIST example in TypeScript, and the streaming pieces to compose your
 * own pipelines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Conv2D, Dense, Flatten, MaxPooling2D, Sequential } from "./mod.ts";
 * const model = new Sequential();
 * model.add(new Conv2D({ filters: 32, kernelSize: [3, 3], activation: "relu", inputShape: [28, 28, 1] }));
 * model.add(new MaxPooling2D({ poolSize: [2, 2] }));
 * model.add(new Flatten());
 * model.add(new Dense({ units: 10, activation: "softmax" }));
 * model.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy", metrics: ["accuracy"] });
 * assert.equal(model.countParams(), 320 + 13 * 13 * 32 * 10 + 10);
 * ```
 *
 * @module
 */

// engine
export type { Shape, Tensor } from "./engine/tensor.ts";
export { formatShape, sizeOf, tensor } from "./engine/tensor.ts";
export { Random } from "./engine/random.ts";
export type { Backend } from "./engine/backend.ts";
export { cpuBackend, KernelFaultError } from "./engine/backend.ts";
export { conv2dInfo, convOutputLength } from "./engine/conv_info.ts";
export type { Conv2DInfo, Padding } from "./engine/conv_info.ts";
export { createWasmBackend } from "./engine/wasm/wasm_backend.ts";

// layers
export { clearSession, Layer, Tape } from "./layers/layer.ts";
export type { Param, RunContext } from "./layers/layer.ts";
export { Conv2D } from "./layers/conv2d.ts";
export type { Conv2DOptions } from "./layers/conv2d.ts";
export { MaxPooling2D } from "./layers/max_pooling2d.ts";
export { AveragePooling2D } from "./layers/average_pooling2d.ts";
export type { Pooling2DOptions } from "./layers/pooling2d.ts";
export { Flatten } from "./layers/flatten.ts";
export { Dense } from "./layers/dense.ts";
export type { DenseOptions } from "./layers/dense.ts";
export { Activation } from "./layers/activation.ts";
export { Dropout } from "./layers/dropout.ts";
export { getLoss } from "./layers/losses.ts";
export type { Loss } from "./layers/losses.ts";
export { Adam, getOptimizer, RMSprop, SGD } from "./layers/optimizers.ts";
export type { Optimizer } from "./layers/optimizers.ts";
export { layerOperator } from "./layers/operator.ts";
export type { Batch, Step, StepMetrics } from "./layers/step.ts";

// pipelines
export { Sequential } from "./pipelines/sequential.ts";
export type { CompileOptions, FitOptions, History } from "./pipelines/sequential.ts";
export {
  backward,
  checkFinite,
  evaluate,
  forward,
  loss,
  NumericalFaultError,
  optimize,
  train,
} from "./pipelines/train.ts";
export type { OnNan, TrainOptions } from "./pipelines/train.ts";
export {
  Checkpointer,
  CheckpointError,
  readCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "./pipelines/checkpoint.ts";
export { mnist } from "./pipelines/mnist.ts";
export type { Example, MnistOptions } from "./pipelines/mnist.ts";
export { loadMnistSplit, mnistDefaultDir } from "./pipelines/mnist_files.ts";
export { IdxFormatError, parseIdx } from "./pipelines/idx.ts";
export { GzipFormatError } from "./pipelines/gunzip.ts";
export { shuffle } from "./pipelines/shuffle.ts";
export { batch } from "./pipelines/batch.ts";
export { fromTensors } from "./pipelines/from_tensors.ts";
export { ProgressBar } from "./pipelines/progress_bar.ts";
export { JsonlLog } from "./pipelines/jsonl_log.ts";
export type { Callback, EpochLogs } from "./pipelines/callbacks.ts";
export { mnistCnn, mnistDense } from "./pipelines/models.ts";
export { saveModel } from "./pipelines/save_model.ts";
export {
  loadModel,
  loadOptimizer,
  loadOptimizerState,
  ModelFormatError,
  saveOptimizerState,
} from "./pipelines/load_model.ts";
export { microBatch, predictBatch, predictStream } from "./pipelines/predict_stream.ts";
export type { Image, Prediction, PredictStreamOptions } from "./pipelines/predict_stream.ts";
export { createPredictionServer } from "./pipelines/server.ts";
export { MetricsRegistry } from "./pipelines/metrics_registry.ts";
export {
  decodeImageBytes,
  ImageFormatError,
  readImageFile,
  readImageStream,
} from "./pipelines/image_input.ts";
export { decodePng, PngFormatError } from "./pipelines/png_decode.ts";
export { runMnistTraining } from "./pipelines/mnist_training.ts";

// the lecture's tools
export { explainModel, formatExplanation, modelFromSpec } from "./pipelines/explain.ts";
export { applyFilter, HAND_FILTERS, PLUS_7X7 } from "./pipelines/hand_filters.ts";
export {
  parseMetricsJsonl,
  readMetricsJsonl,
  recordsFromHistory,
  trainingPlotSvg,
  writeTrainingPlot,
} from "./pipelines/svg_plot.ts";
export {
  confusionMatrix,
  formatConfusionMatrix,
  writeConfusionMatrixPng,
} from "./pipelines/confusion_matrix.ts";
export { convActivations, writeVisualizations } from "./pipelines/activation_maps.ts";
export { encodePng, writePng } from "./pipelines/png_encode.ts";

// types that the public API mentions
export type { ActivationName } from "./engine/kernels/activations.ts";
export type { RandomState } from "./engine/random.ts";
export type { WasmBackendOptions } from "./engine/wasm/wasm_backend.ts";
export type { BackwardOptions, LayerOptions, ParamSpec } from "./layers/layer.ts";
export type { OperatorContext } from "./layers/operator.ts";
export type { ParamRange } from "./layers/optimizers.ts";
export type { ParamStore } from "./layers/params.ts";
export type { ExampleInfo, LayerOutput } from "./pipelines/activation_maps.ts";
export type { BatchOptions } from "./pipelines/batch.ts";
export type { BatchLogs } from "./pipelines/callbacks.ts";
export type { Checkpoint, CheckpointerOptions } from "./pipelines/checkpoint.ts";
export type { ConfusionMatrix, ConfusionMatrixOptions } from "./pipelines/confusion_matrix.ts";
export type { ExplainableModel, ExplainRow } from "./pipelines/explain.ts";
export type { FromTensorsOptions } from "./pipelines/from_tensors.ts";
export type { FilterResponse, FilterSetting, HandFilter } from "./pipelines/hand_filters.ts";
export type { IdxArray, IdxParserOptions } from "./pipelines/idx.ts";
export type { MapView } from "./pipelines/image_grid.ts";
export type { ImageInputOptions, ImageItem } from "./pipelines/image_input.ts";
export type { LoadModelOptions } from "./pipelines/load_model.ts";
export type { LoadMnistSplitOptions, MnistSplit } from "./pipelines/mnist_files.ts";
export type { MnistTrainingOptions, MnistTrainingResult } from "./pipelines/mnist_training.ts";
export type { ModelOptions } from "./pipelines/models.ts";
export type { DecodePngOptions, GrayImage } from "./pipelines/png_decode.ts";
export type { RgbImage } from "./pipelines/png_encode.ts";
export type {
  BatchInfo,
  ImageId,
  ImageRecord,
  MicroBatchOptions,
} from "./pipelines/predict_stream.ts";
export type { Evaluation, ResumePoint, TrainingProgress } from "./pipelines/sequential.ts";
export type { PredictionServer, PredictionServerOptions } from "./pipelines/server.ts";
export type { ShuffleOptions } from "./pipelines/shuffle.ts";
export type { MetricsRecord } from "./pipelines/svg_plot.ts";
export { Counter, Gauge, Histogram } from "./pipelines/metrics_registry.ts";
export { Pooling2D } from "./layers/pooling2d.ts";
export type { Tile } from "./engine/wasm/codegen.ts";
export type { Initializer } from "./layers/initializers.ts";
export type { CheckpointHeader } from "./pipelines/checkpoint.ts";
export type { AxisArithmetic, StrideWarning } from "./pipelines/explain.ts";
export type { IdxExpectation } from "./pipelines/idx.ts";
export type { DecodedImage, ImageError } from "./pipelines/image_input.ts";
export type { Labels } from "./pipelines/metrics_registry.ts";
export type { EpochRecord, TestRecord } from "./pipelines/svg_plot.ts";
