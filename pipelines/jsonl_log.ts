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
  readonly path: string;

  constructor(path: string, options: { append?: boolean } = {}) {
    this.path = path;
    if (!options.append) Deno.writeTextFileSync(path, "");
  }

  /** Appends one record. */
  write(record: Record<string, unknown>): void {
    Deno.writeFileSync(this.path, encoder.encode(JSON.stringify(record) + "\n"), { append: true });
  }

  onEpochEnd(epoch: number, logs: EpochLogs): void {
    this.write({ epoch: epoch + 1, ...logs });
  }
}
