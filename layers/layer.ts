/**
 * The layer contract, Keras's with llm.c's forward/backward pairing:
 *
 * - the constructor validates options and keeps the config;
 * - `computeOutputShape(inputShape)` infers the per-example output shape (and doubles as input
 *   validation);
 * - `paramSpecs(inputShape)` names the parameters and their initializers; the model allocates
 *   all parameters of all layers in one buffer and hands each layer its views through `build`;
 * - `forward(x, ctx)` computes the output and saves on the tape what its backward needs;
 * - `backward(dy, ctx)` accumulates (`+=`) into parameter gradients and returns dx (`=`);
 * - `getConfig()` returns the Keras/TF.js config keys, camelCase as TF.js writes them.
 *
 * Shapes here are per example (no batch dimension); tensors carry the batch as dimension 0.
 *
 * @module
 */

import type { Backend } from "../engine/backend.ts";
import type { Random } from "../engine/random.ts";
import type { Shape, Tensor } from "../engine/tensor.ts";
import type { Initializer } from "./initializers.ts";

/** A named parameter: its values and its gradient, views into the model's flat buffers. */
export interface Param {
  /** Keras's weight name, e.g. `kernel` or `bias` (the model prefixes the layer name). */
  readonly name: string;
  /** Shape of the parameter, e.g. [kh, kw, inC, filters] for a conv kernel. */
  readonly shape: Shape;
  /** The parameter's values, a view into the model's flat value buffer. */
  readonly value: Float32Array;
  /** The parameter's gradient, a view into the model's flat gradient buffer. */
  readonly grad: Float32Array;
}

/** What a layer asks of the model before build: a parameter's name, shape and initializer. */
export interface ParamSpec {
  /** Keras's weight name, e.g. `kernel` or `bias`. */
  readonly name: string;
  /** Shape of the parameter. */
  readonly shape: Shape;
  /** How the parameter's values are initialized. */
  readonly initializer: Initializer;
}

/** Options of {@linkcode Layer.backward}. */
export interface BackwardOptions {
  /** `dy` is the gradient with respect to the pre-activation output (fused softmax + loss). */
  readonly fromLogits?: boolean;
  /** The caller does not need dL/dx (first layer of a model): skip computing it. */
  readonly skipInputGradient?: boolean;
  /**
   * This layer's input is the output of a relu (the previous layer's, whose `endsInRelu` is
   * true): fold that relu's backward into dx, which is then the gradient with respect to the
   * relu's input. Only asked of layers whose `foldsInputRelu` is true.
   */
  readonly foldInputRelu?: boolean;
  /**
   * `dy` is already the gradient with respect to this layer's pre-activation output (the next
   * layer folded this layer's relu backward into its dx): skip the activation's backward.
   */
  readonly preActivation?: boolean;
}

/** What the forward and backward passes run with. */
export interface RunContext {
  /** The backend the kernels run on. */
  readonly backend: Backend;
  /** Dropout is active only when training. */
  readonly training: boolean;
  /** Where forwards save what their backward needs; null in inference (nothing is saved). */
  readonly tape: Tape | null;
  /** The generator dropout draws its masks from. */
  readonly random: Random;
}

/**
 * What the forward pass saved for the backward pass, per layer. One tape belongs to one batch,
 * so what the backward needs travels with the batch rather than living in the layers. The saved
 * tensors are views of the layers' reused buffers, so a batch's backward must run before the next
 * batch's forward, which the synchronous training step guarantees.
 */
export class Tape {
  #saved = new Map<Layer, unknown>();

  /** Saves a layer's record for its backward. */
  save(layer: Layer, record: unknown): void {
    this.#saved.set(layer, record);
  }

  /** The record the layer's forward saved; throws if there is none (backward without forward). */
  get<T>(layer: Layer): T {
    if (!this.#saved.has(layer)) {
      throw new Error(
        `Cannot run the backward of layer "${layer.name}": its forward did not record on this tape`,
      );
    }
    return this.#saved.get(layer) as T;
  }
}

const nameCounts = new Map<string, number>();

/**
 * Forgets the automatic layer and model names, as `keras.backend.clear_session()` does: the next
 * Conv2D is named `conv2d` again.
 */
export function clearSession(): void {
  nameCounts.clear();
}

/** Keras's automatic naming: `conv2d`, `conv2d_1`, ... per snake_case class name. */
export function uniqueName(prefix: string): string {
  const n = nameCounts.get(prefix) ?? 0;
  nameCounts.set(prefix, n + 1);
  return n === 0 ? prefix : `${prefix}_${n}`;
}

/** `MaxPooling2D` -> `max_pooling2d`, `Conv2D` -> `conv2d`, as Keras derives default names. */
export function toSnakeCase(className: string): string {
  const s = className.replace(/(.)([A-Z][a-z]+)/g, "$1_$2").replace(/([a-z])([A-Z])/g, "$1_$2");
  return s.toLowerCase();
}

/** Options every layer accepts. */
export interface LayerOptions {
  /** The layer's name; default: Keras's automatic `snake_case` name with a counter. */
  name?: string;
  /** Per-example input shape, for the first layer of a model (Keras's `input_shape`). */
  inputShape?: readonly number[];
  /** Whether the optimizer updates this layer's parameters (default true). */
  trainable?: boolean;
}

/** The base class of all layers. */
export abstract class Layer {
  /** The Keras class name, e.g. `Conv2D`. */
  abstract readonly className: string;
  /** The layer's name, unique by default (e.g. `conv2d_1`). */
  readonly name: string;
  /** Whether the optimizer updates this layer's parameters (default true). */
  readonly trainable: boolean;
  /** Per-example input shape given in the options, if any. */
  readonly declaredInputShape: Shape | null;
  /** Per-example input shape once built. */
  inputShape: Shape | null = null;
  /** Parameter views once built, in `paramSpecs` order. */
  params: Param[] = [];

  /** Sets the name (default from `className`), trainability and declared input shape. */
  constructor(options: LayerOptions, className: string) {
    this.name = options.name ?? uniqueName(toSnakeCase(className));
    this.trainable = options.trainable ?? true;
    if (options.inputShape !== undefined) {
      for (const d of options.inputShape) {
        if (!Number.isInteger(d) || d <= 0) {
          throw new RangeError(
            `Cannot build ${className} as inputShape must hold positive integers: current value is [${options.inputShape}]`,
          );
        }
      }
    }
    this.declaredInputShape = options.inputShape === undefined ? null : [...options.inputShape];
  }

  /** Whether `backward` honours `BackwardOptions.foldInputRelu` (false unless overridden). */
  get foldsInputRelu(): boolean {
    return false;
  }

  /**
   * Whether this layer's output is a relu's, with `backward` honouring
   * `BackwardOptions.preActivation` (false unless overridden).
   */
  get endsInRelu(): boolean {
    return false;
  }

  /** Whether `build` has run. */
  get built(): boolean {
    return this.inputShape !== null;
  }

  /** The per-example output shape for an input shape; throws if the input does not fit. */
  abstract computeOutputShape(inputShape: Shape): Shape;

  /** The parameters this layer needs for an input shape (none by default). */
  paramSpecs(_inputShape: Shape): ParamSpec[] {
    return [];
  }

  /** Binds the parameter views the model allocated for `paramSpecs(inputShape)`. */
  build(inputShape: Shape, params: Param[]): void {
    this.computeOutputShape(inputShape);
    this.inputShape = [...inputShape];
    this.params = params;
  }

  /** Number of scalar parameters. */
  paramCount(): number {
    let n = 0;
    for (const p of this.params) n += p.value.length;
    return n;
  }

  /** Computes the output for a batch, saving on `ctx.tape` what the backward needs. */
  abstract forward(x: Tensor, ctx: RunContext): Tensor;

  /**
   * Given dL/dy, accumulates parameter gradients and returns dL/dx (or null when
   * `options.skipInputGradient`, for the first layer). With `options.fromLogits`, `dy` is already
   * the gradient with respect to the pre-activation output (fused softmax + loss).
   */
  abstract backward(dy: Tensor, ctx: RunContext, options?: BackwardOptions): Tensor | null;

  /** The Keras/TF.js config of this layer (camelCase keys as TF.js writes them). */
  getConfig(): Record<string, unknown> {
    const config: Record<string, unknown> = { name: this.name, trainable: this.trainable };
    if (this.declaredInputShape !== null) {
      config.batchInputShape = [null, ...this.declaredInputShape];
    }
    config.dtype = "float32";
    return config;
  }
}

/**
 * Buffers a layer reuses across steps, grown to the largest batch seen and viewed at the current
 * batch size: allocating per step costs page faults, and a pool backend's shared memory is
 * allocated once (see DESIGN.md).
 */
export class BufferCache {
  #buffers = new Map<string, Float32Array>();
  #ints = new Map<string, Int32Array>();
  #backend: Backend | null = null;

  /** Forgets buffers of another backend (the model moved to a new one). */
  #check(backend: Backend): void {
    if (this.#backend === backend) return;
    this.#buffers.clear();
    this.#ints.clear();
    this.#backend = backend;
  }

  /** A view of `size` floats named `key`, reusing (and never shrinking) the underlying buffer. */
  get(backend: Backend, key: string, size: number): Float32Array {
    this.#check(backend);
    let b = this.#buffers.get(key);
    if (b === undefined || b.length < size) {
      b = backend.alloc(size);
      this.#buffers.set(key, b);
    }
    return b.length === size ? b : b.subarray(0, size);
  }

  /** Same as {@linkcode BufferCache.get} for int32 buffers. */
  getInt32(backend: Backend, key: string, size: number): Int32Array {
    this.#check(backend);
    let b = this.#ints.get(key);
    if (b === undefined || b.length < size) {
      b = backend.allocInt32(size);
      this.#ints.set(key, b);
    }
    return b.length === size ? b : b.subarray(0, size);
  }
}
