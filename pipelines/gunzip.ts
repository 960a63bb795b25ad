/**
 * Streams a file that may or may not be gzipped (MNIST is shipped both ways) to a chunk consumer,
 * inflating on the fly with fflate's streaming `Gunzip`, so the compressed and the inflated file
 * never both sit in memory.
 *
 * Gzip is recognised by its magic bytes, not by the file name: a renamed file still works.
 *
 * fflate's streaming `Gunzip` throws on a bad header or bad deflate codes, but it checks neither
 * the CRC-32 nor the length in the gzip trailer, and a stream cut at a block boundary simply never
 * ends, without an error. So this module computes both itself and compares them with the file's
 * last 8 bytes: that catches truncation, trailing bytes and silent corruption alike. For a
 * multi-member file (`cat a.gz b.gz`) only the last member's trailer is checked; the earlier
 * members are known to be complete because fflate only starts a member after the previous one's
 * final block.
 *
 * @module
 */

import { Gunzip } from "fflate";
import { crc32Final, crc32Update, CRC_INIT } from "./crc32.ts";
import { IdxFormatError } from "./idx.ts";

/**
 * The input is not valid gzip data: bad header, bad deflate data, truncated, or a trailer whose
 * CRC-32 or length disagrees with the inflated data. A subclass of {@linkcode IdxFormatError}, so
 * catching that one type covers every malformed input of the MNIST pipeline.
 */
export class GzipFormatError extends IdxFormatError {
  /**
   * Creates the error; the message reads `FILE: detail`.
   *
   * @param file The gzip file; it prefixes the message.
   * @param detail What is wrong with it.
   * @param options Standard error options, e.g. fflate's error as `cause`.
   */
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(file, detail, options);
    this.name = "GzipFormatError";
  }
}

/** Options of {@linkcode readMaybeGzipped}. */
export interface ReadMaybeGzippedOptions {
  /** Bytes read from the file per read call. Default 1 MiB; tests use tiny ones. */
  chunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
/** 10-byte header + empty deflate stream (at least 2 bytes) + 8-byte trailer, rounded down. */
const GZIP_MIN_BYTES = 18;
/**
 * After the consumer has refused the data, at most this many further inflated bytes are decoded
 * to find out whether the gzip layer is the real culprit (its error is then the better message);
 * past it the consumer's error is reported, so a gzip bomb cannot keep us busy.
 */
const DRAIN_LIMIT_BYTES = 64 << 20;

/**
 * Reads `path` in chunks and hands each chunk of its content to `onChunk`, gunzipping it first if
 * the file starts with the gzip magic bytes 0x1f 0x8b. Each chunk is a fresh array, which the
 * callback may keep. An exception thrown by `onChunk` stops the read and is rethrown, unless the
 * gzip data turns out to be corrupt, in which case that is reported instead (it explains why the
 * consumer saw bad data).
 *
 * @param path The file to read.
 * @param onChunk Receives the (inflated) content in order; never called with an empty chunk.
 * @param options Read chunk size.
 * @throws {GzipFormatError} if the file is gzipped and the gzip data is corrupt or truncated.
 * @throws {Deno.errors.NotFound} and the other `Deno.open` errors, unchanged.
 *
 * @example
 * ```ts ignore
 * import { readMaybeGzipped } from "./gunzip.ts";
 * let bytes = 0;
 * await readMaybeGzipped("train-labels-idx1-ubyte.gz", (chunk) => (bytes += chunk.length));
 * ```
 */
export async function readMaybeGzipped(
  path: string,
  onChunk: (chunk: Uint8Array) => void,
  options: ReadMaybeGzippedOptions = {},
): Promise<void> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new RangeError(
      `readMaybeGzipped: chunkBytes must be a positive integer, got ${chunkBytes}`,
    );
  }
  using file = await Deno.open(path, { read: true });
  const read = async (): Promise<Uint8Array | null> => {
    const buf = new Uint8Array(chunkBytes);
    const n = await file.read(buf);
    return n === null ? null : buf.subarray(0, n);
  };

  // A read may return a single byte, so gather the two magic bytes before deciding.
  let first: Uint8Array = new Uint8Array(0);
  while (first.length < 2) {
    const c = await read();
    if (c === null) break;
    first = concat(first, c);
  }
  if (first.length < 2 || first[0] !== 0x1f || first[1] !== 0x8b) {
    if (first.length > 0) onChunk(first);
    for (let c = await read(); c !== null; c = await read()) if (c.length > 0) onChunk(c);
    return;
  }

  const gunzip = new GunzipChecked(path, onChunk);
  gunzip.push(first);
  for (let c = await read(); c !== null && !gunzip.gaveUp; c = await read()) gunzip.push(c);
  gunzip.finish();
}

/** fflate's `Gunzip` plus the trailer check and the error policy described in the module doc. */
class GunzipChecked {
  readonly #path: string;
  readonly #onChunk: (chunk: Uint8Array) => void;
  readonly #gunzip: Gunzip;
  /** Running CRC-32 and length (mod 2^32, as in the trailer) of the current member's output. */
  #crc = CRC_INIT;
  #size = 0;
  /** The last 8 compressed bytes seen: the trailer, once the input has ended. */
  #tail = new Uint8Array(8);
  #total = 0;
  #consumerError: { error: unknown } | undefined;
  #drained = 0;
  /** True once the drain limit is passed: stop reading and report the consumer's error. */
  gaveUp = false;

  constructor(path: string, onChunk: (chunk: Uint8Array) => void) {
    this.#path = path;
    this.#onChunk = onChunk;
    this.#gunzip = new Gunzip((data) => this.#onData(data));
    this.#gunzip.onmember = () => {
      this.#crc = CRC_INIT;
      this.#size = 0;
    };
  }

  push(chunk: Uint8Array): void {
    this.#remember(chunk);
    this.#inflate(chunk, false);
  }

  finish(): void {
    if (!this.gaveUp) this.#inflate(new Uint8Array(0), true);
    if (!this.gaveUp) this.#checkTrailer();
    if (this.#consumerError !== undefined) throw this.#consumerError.error;
  }

  #onData(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#crc = crc32Update(this.#crc, data);
    this.#size = (this.#size + data.length) >>> 0;
    if (this.#consumerError !== undefined) {
      this.#drained += data.length;
      if (this.#drained > DRAIN_LIMIT_BYTES) this.gaveUp = true;
      return;
    }
    try {
      this.#onChunk(data);
    } catch (error) {
      // Not thrown through fflate: keep inflating to see whether the gzip data is to blame.
      this.#consumerError = { error };
    }
  }

  #inflate(chunk: Uint8Array, final: boolean): void {
    try {
      this.#gunzip.push(chunk, final);
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new GzipFormatError(
        this.#path,
        `corrupt gzip data after ${this.#total} compressed bytes: ${why}`,
        { cause },
      );
    }
  }

  #remember(chunk: Uint8Array): void {
    this.#total += chunk.length;
    if (chunk.length >= 8) {
      this.#tail.set(chunk.subarray(chunk.length - 8));
    } else {
      this.#tail.copyWithin(0, chunk.length);
      this.#tail.set(chunk, 8 - chunk.length);
    }
  }

  #checkTrailer(): void {
    if (this.#total < GZIP_MIN_BYTES) {
      throw new GzipFormatError(
        this.#path,
        `truncated gzip data: expected at least ${GZIP_MIN_BYTES} bytes, found ${this.#total}`,
      );
    }
    const view = new DataView(this.#tail.buffer);
    const wantCrc = view.getUint32(0, true);
    const wantSize = view.getUint32(4, true);
    const gotCrc = crc32Final(this.#crc);
    if (wantCrc !== gotCrc || wantSize !== this.#size) {
      throw new GzipFormatError(
        this.#path,
        `truncated or corrupt gzip data: the trailer says ${wantSize} bytes with CRC-32 ` +
          `0x${hex8(wantCrc)}, the inflated data is ${this.#size} bytes with CRC-32 ` +
          `0x${hex8(gotCrc)}`,
      );
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as gzip uses. fflate does not export its
// own, so here is the usual table-driven one, sliced by 4 bytes for speed.
