/**
 * Training checkpoints: everything needed to continue a run exactly where it stopped (weights,
 * optimizer slots and iteration count, the random generator's state, the epoch and step, the
 * running metrics of the epoch and the history so far), in one file written atomically.
 *
 * File layout (`checkpoint.ckpt`): the 8 ASCII bytes `DCNNCKPT`, a little-endian uint32 header
 * length, the UTF-8 JSON header, then the payload: little-endian float32 weights followed by each
 * optimizer slot in header order. The header records the payload's CRC-32, so a damaged file is
 * refused by name rather than loaded half-right.
 *
 * @module
 */

import { join } from "node:path";
import type { RandomState } from "../engine/random.ts";
import { writeFileAtomic } from "./atomic_write.ts";
import type { Callback } from "./callbacks.ts";
import { crc32 } from "./crc32.ts";
import type { History, ResumePoint, Sequential } from "./sequential.ts";

/** The checkpoint file's name inside the checkpoint directory. */
export const CHECKPOINT_FILE = "checkpoint.ckpt";
const MAGIC = "DCNNCKPT";
const VERSION = 1;

/** A checkpoint file that cannot be used: names the file, what was expected and what was found. */
export class CheckpointError extends Error {
  /** Always `CheckpointError`. */
  override name = "CheckpointError";
  /** Creates an error for `file`, with `detail` saying what is wrong. */
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
  }
}

/** The JSON header of a checkpoint. */
export interface CheckpointHeader {
  /** Format tag, always `deno-cnn-checkpoint`. */
  format: "deno-cnn-checkpoint";
  /** Format version (currently 1). */
  version: number;
  /** Free-form description of the run; a resume refuses a checkpoint of another run. */
  run: Record<string, unknown>;
  /** Layer names and parameter shapes, checked against the model on resume. */
  params: { name: string; shape: number[] }[];
  /** The epoch to continue (0-based) and the steps of it already done. */
  epoch: number;
  /** Steps of `epoch` already done. */
  step: number;
  /** The generator's state after `step` steps of `epoch` (its state at the epoch's start when step is 0). */
  random: RandomState;
  /** The generator's state when the epoch began (it drew the epoch's shuffle). */
  epochStartRandom: RandomState;
  /** Running sums of the epoch so far: examples seen, loss sum and correct predictions. */
  totals: { seen: number; lossSum: number; correct: number };
  /** Metrics of the epochs completed so far. */
  history: History;
  /** The optimizer's name, config, iteration count and slot layout. */
  optimizer: {
    name: string;
    config: Record<string, unknown>;
    iterations: number;
    slots: { name: string; length: number }[];
  };
  /** Length in bytes of the payload after the header. */
  payloadBytes: number;
  /** CRC-32 of the payload, checked on read. */
  crc32: number;
}

/** A checkpoint read back: its header and the float arrays of its payload. */
export interface Checkpoint {
  /** The checkpoint's header. */
  header: CheckpointHeader;
  /** All model parameters, flat, in the model's order. */
  weights: Float32Array;
  /** Optimizer slot variables by name. */
  slots: Record<string, Float32Array>;
}

function paramList(model: Sequential): { name: string; shape: number[] }[] {
  return model.namedParams().map(({ name, param }) => ({ name, shape: [...param.shape] }));
}

/**
 * Encodes the model's training state at `progress` as checkpoint bytes. `atEpochEnd` records the
 * start of the next epoch (step 0) instead of a point inside the current one.
 */
export function encodeCheckpoint(model: Sequential, run: Record<string, unknown>): Uint8Array {
  const progress = model.progress;
  if (progress === null) throw new Error("Cannot checkpoint a model that has not started fit()");
  const opt = model.optimizer.getState();
  const slotNames = Object.keys(opt.slots).sort();
  const values = model.store.values;
  const floats = values.length + slotNames.reduce((n, k) => n + opt.slots[k]!.length, 0);
  const payload = new Uint8Array(floats * 4);
  const view = new DataView(payload.buffer);
  let at = 0;
  const put = (a: Float32Array) => {
    for (let i = 0; i < a.length; i++, at += 4) view.setFloat32(at, a[i]!, true);
  };
  put(values);
  for (const k of slotNames) put(opt.slots[k]!);
  const done = progress.epochComplete;
  const header: CheckpointHeader = {
    format: "deno-cnn-checkpoint",
    version: VERSION,
    run,
    params: paramList(model),
    epoch: done ? progress.epoch + 1 : progress.epoch,
    step: done ? 0 : progress.step,
    random: model.random.getState(),
    epochStartRandom: done ? model.random.getState() : progress.epochStartRandom,
    totals: done
      ? { seen: 0, lossSum: 0, correct: 0 }
      : { seen: progress.seen, lossSum: progress.lossSum, correct: progress.correct },
    history: model.history,
    optimizer: {
      name: model.optimizer.name,
      config: model.optimizer.getConfig(),
      iterations: opt.iterations,
      slots: slotNames.map((name) => ({ name, length: opt.slots[name]!.length })),
    },
    payloadBytes: payload.length,
    crc32: crc32(payload),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(12 + json.length + payload.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(payload, 12 + json.length);
  return out;
}

/** Writes the model's training state to `dir/checkpoint.ckpt`, atomically. */
export async function writeCheckpoint(
  model: Sequential,
  dir: string,
  run: Record<string, unknown>,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, CHECKPOINT_FILE);
  await writeFileAtomic(path, encodeCheckpoint(model, run));
  return path;
}

/** Parses checkpoint bytes; every inconsistency is a {@linkcode CheckpointError} naming `file`. */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new CheckpointError(file, `expected a checkpoint starting with "${MAGIC}"`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + headerLength > bytes.length) {
    throw new CheckpointError(
      file,
      `truncated: the header declares ${headerLength} bytes, ${bytes.length - 12} remain`,
    );
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch (e) {
    throw new CheckpointError(file, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (header?.format !== "deno-cnn-checkpoint" || header.version !== VERSION) {
    throw new CheckpointError(
      file,
      `expected format deno-cnn-checkpoint version ${VERSION}, found ${header?.format} version ${header?.version}`,
    );
  }
  const payload = bytes.subarray(12 + headerLength);
  if (payload.length !== header.payloadBytes) {
    throw new CheckpointError(
      file,
      `expected ${header.payloadBytes} payload bytes, found ${payload.length} (truncated or padded)`,
    );
  }
  const crc = crc32(payload);
  if (crc !== header.crc32) {
    throw new CheckpointError(
      file,
      `payload checksum mismatch: expected crc32 ${header.crc32}, computed ${crc} (the file is damaged)`,
    );
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  let at = 0;
  const take = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++, at += 4) a[i] = view.getFloat32(at, true);
    return a;
  };
  const weightCount = header.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const slotFloats = header.optimizer.slots.reduce((n, s) => n + s.length, 0);
  if ((weightCount + slotFloats) * 4 !== payload.length) {
    throw new CheckpointError(
      file,
      `expected ${
        (weightCount + slotFloats) * 4
      } payload bytes for its parameters and slots, found ${payload.length}`,
    );
  }
  const weights = take(weightCount);
  const slots: Record<string, Float32Array> = {};
  for (const s of header.optimizer.slots) slots[s.name] = take(s.length);
  return { header, weights, slots };
}

/** Reads `dir/checkpoint.ckpt`. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        path,
        "no checkpoint here (expected a file written by --checkpoint)",
      );
    }
    throw e;
  }
  return decodeCheckpoint(bytes, path);
}

/**
 * Restores a checkpoint into a compiled model with the same layers: weights, optimizer state and
 * generator; returns the `fit` options that continue the run.
 */
export function restoreCheckpoint(
  model: Sequential,
  checkpoint: Checkpoint,
  file: string,
): { initialEpoch: number; initialHistory: History; resume?: ResumePoint } {
  const { header } = checkpoint;
  const expected = paramList(model);
  // matched by position and shape: automatic layer names depend on what else the process built
  const same = expected.length === header.params.length &&
    expected.every((p, i) => p.shape.join() === header.params[i]!.shape.join());
  if (!same) {
    throw new CheckpointError(
      file,
      `its parameters [${
        header.params.map((p) => `${p.name}(${p.shape})`).join(", ")
      }] do not match the model's [${expected.map((p) => `${p.name}(${p.shape})`).join(", ")}]`,
    );
  }
  if (header.optimizer.name !== model.optimizer.name) {
    throw new CheckpointError(
      file,
      `it was written with optimizer ${header.optimizer.name}, the run uses ${model.optimizer.name}`,
    );
  }
  model.store.values.set(checkpoint.weights);
  model.optimizer.setState({ iterations: header.optimizer.iterations, slots: checkpoint.slots });
  model.random.setState(header.random);
  const out: { initialEpoch: number; initialHistory: History; resume?: ResumePoint } = {
    initialEpoch: header.epoch,
    initialHistory: header.history,
  };
  if (header.step > 0) {
    out.resume = {
      step: header.step,
      ...header.totals,
      epochStartRandom: header.epochStartRandom,
      random: header.random,
    };
  }
  return out;
}

/** Options of the {@linkcode Checkpointer}. */
export interface CheckpointerOptions {
  /** Also write every N steps (default: only at epoch ends). */
  everySteps?: number;
  /** Recorded in the header and checked on resume. */
  run?: Record<string, unknown>;
  /** Called after each write with the file path. */
  onWrite?: (path: string) => void;
}

/**
 * A `fit` callback that writes a checkpoint at the end of every epoch and, optionally, every N
 * steps. Writes are chained so that two never overlap, and each one is atomic.
 */
export class Checkpointer implements Callback {
  #pending: Promise<void> = Promise.resolve();
  #error: unknown = null;

  /** Checkpoints `model` into `dir` (file `checkpoint.ckpt`). */
  constructor(
    readonly model: Sequential,
    readonly dir: string,
    readonly options: CheckpointerOptions = {},
  ) {}

  /** Queues a checkpoint of the model's current state; resolves when it is on disk. */
  writeNow(): Promise<void> {
    this.#queue();
    return this.flush();
  }

  #queue(): void {
    // encode now, synchronously, so the state is the one of this moment
    const bytes = encodeCheckpoint(this.model, this.options.run ?? {});
    const path = join(this.dir, CHECKPOINT_FILE);
    this.#pending = this.#pending.then(async () => {
      await Deno.mkdir(this.dir, { recursive: true });
      await writeFileAtomic(path, bytes);
      this.options.onWrite?.(path);
    }).catch((e) => {
      this.#error ??= e;
    });
  }

  /** Waits for queued writes; rethrows the first write error. */
  async flush(): Promise<void> {
    await this.#pending;
    if (this.#error !== null) throw this.#error;
  }

  /** Queues a checkpoint every `everySteps` steps, if set. */
  onBatchEnd(step: { step: number }): void {
    const every = this.options.everySteps;
    if (every !== undefined && every > 0 && step.step % every === 0) this.#queue();
  }

  /** Queues a checkpoint at the end of each epoch. */
  onEpochEnd(): void {
    this.#queue();
  }
}
