/**
 * A JSONL metrics log as a training sink: one JSON object per epoch (`epoch`, `loss`, `accuracy`,
 * `val_loss` and `val_accuracy` when validating, `seconds`), appended and flushed as each epoch
 * ends, so a crash loses nothing already written; plus one object for the final test evaluation.
 *
 * @module
 */

import type { Callback, EpochLogs } from "./callbacks.ts";

const encoder = new TextEncoder();

/** Writes one JSON line per epoch to `path` (truncated when the log opens). */
export class JsonlLog implements Callback {
  /** Path of the log file. */
  readonly path: string;

  /** Opens the log at `path`, truncating it unless `append` is set. */
  constructor(path: string, options: { append?: boolean } = {}) {
    this.path = path;
    if (!options.append) Deno.writeTextFileSync(path, "");
  }

  /** Appends one record. */
  write(record: Record<string, unknown>): void {
    Deno.writeFileSync(this.path, encoder.encode(JSON.stringify(record) + "\n"), { append: true });
  }

  /** Writes the epoch's record (epochs numbered from 1) with its metrics. */
  onEpochEnd(epoch: number, logs: EpochLogs): void {
    this.write({ epoch: epoch + 1, ...logs });
  }
}
