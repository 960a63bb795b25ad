/**
 * A reader for the IDX format that MNIST ships in, fed with bytes as they arrive (from a file, a
 * gunzip stream, a test), so a 47 MB images file never has to exist twice in memory.
 *
 * Layout: a 4-byte magic (two zero bytes, a type byte, a rank byte), `rank` big-endian uint32
 * dimensions, then the data in row-major order. Only type 0x08 (unsigned byte), the type MNIST
 * uses, is supported.
 *
 * Every parser in `pipelines/` reports a malformed input as an {@linkcode IdxFormatError} (or a
 * subclass), whose message starts with the file name.
 *
 * @module
 */

/** IDX magic of an MNIST images file: unsigned bytes, rank 3 (count, rows, cols). */
export const IDX_IMAGES_MAGIC = 0x00000803;

/** IDX magic of an MNIST labels file: unsigned bytes, rank 1 (count). */
export const IDX_LABELS_MAGIC = 0x00000801;

/** Default ceiling on the data size a header may declare: 1 GiB, 20x the MNIST train images. */
export const DEFAULT_IDX_MAX_BYTES = 1 << 30;

/** The one element type supported: unsigned byte. */
const TYPE_UBYTE = 0x08;

/** Element type names from the IDX spec, to say what an unsupported type byte meant. */
const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x08, "unsigned byte"],
  [0x09, "signed byte"],
  [0x0b, "int16"],
  [0x0c, "int32"],
  [0x0d, "float32"],
  [0x0e, "float64"],
]);

/**
 * The documented error type of every parser in `pipelines/`: the input is not the IDX (or gzip)
 * data it should be. The message reads `FILE: what was expected, what was found`.
 */
export class IdxFormatError extends Error {
  /** The file (path or name) whose content is malformed. */
  readonly file: string;
  /** The message without the leading file name. */
  readonly detail: string;

  /**
   * Creates the error; the message reads `FILE: detail`.
   *
   * @param file The file (path or name) to blame; it prefixes the message.
   * @param detail What was expected and what was found.
   * @param options Standard error options, e.g. the low-level `cause`.
   */
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
    this.name = "IdxFormatError";
    this.file = file;
    this.detail = detail;
  }
}

/** A parsed IDX file. */
export interface IdxArray {
  /** The 32-bit magic, e.g. {@linkcode IDX_IMAGES_MAGIC}. */
  magic: number;
  /** The dimensions, outermost first, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The elements in row-major order; its length is the product of `dims`. */
  data: Uint8Array;
}

/** What a caller expects of the header, checked before any data is read. */
export interface IdxExpectation {
  /** The required magic, e.g. {@linkcode IDX_IMAGES_MAGIC}. */
  magic: number;
  /** What that magic means to the caller, for the message, e.g. `"images"`. */
  description: string;
}

/** Options of {@linkcode IdxParser} and {@linkcode parseIdx}. */
export interface IdxParserOptions {
  /**
   * The largest data size, in bytes, a header may declare. A corrupt header is refused before the
   * data buffer is allocated. Default {@linkcode DEFAULT_IDX_MAX_BYTES}.
   */
  maxBytes?: number;
  /** If set, any other magic is refused as soon as the first 4 bytes arrive. */
  expect?: IdxExpectation;
}

/** `2049 (unsigned byte, rank 1)`: a magic as a number plus what it encodes. */
function describeMagic(magic: number): string {
  const type = (magic >>> 8) & 0xff;
  const typeName = TYPE_NAMES.get(type) ?? `unknown type 0x${hex2(type)}`;
  return `${magic} (${typeName}, rank ${magic & 0xff})`;
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/**
 * A push-style IDX parser: {@linkcode IdxParser.push} chunks of any size (even 1 byte), then
 * {@linkcode IdxParser.finish}. The header is validated as soon as its bytes are in, so a wrong or
 * corrupt file is refused before its data is read; the data buffer is allocated once, at its
 * declared size, and chunks are copied straight into it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IdxParser } from "./idx.ts";
 * const parser = new IdxParser("labels");
 * parser.push(new Uint8Array([0, 0, 8, 1, 0, 0]));
 * parser.push(new Uint8Array([0, 2, 7, 3]));
 * assert(parser.finish().data[1] === 3);
 * ```
 */
export class IdxParser {
  readonly #file: string;
  readonly #maxBytes: number;
  readonly #expect: IdxExpectation | undefined;
  /** Header bytes gathered so far; its size is fixed once the rank byte is known. */
  #header = new Uint8Array(4);
  #headerFilled = 0;
  #magic = 0;
  #dims: number[] | undefined;
  #data: Uint8Array | undefined;
  /** Declared data size; `#data` grows toward it as bytes arrive. */
  #size = 0;
  #dataFilled = 0;
  #finished = false;

  /**
   * @param file The file name used in error messages.
   * @param options Size limit and expected magic.
   */
  constructor(file: string, options: IdxParserOptions = {}) {
    this.#file = file;
    this.#maxBytes = options.maxBytes ?? DEFAULT_IDX_MAX_BYTES;
    this.#expect = options.expect;
  }

  /**
   * Feeds the next bytes. The chunk is copied, so the caller may reuse it.
   *
   * @throws {IdxFormatError} as soon as the header is invalid or the bytes run past the declared
   *   data size (trailing garbage is refused here, before it is buffered).
   */
  push(chunk: Uint8Array): void {
    if (this.#finished) throw new Error(`${this.#file}: IdxParser.push called after finish()`);
    let offset = 0;
    while (this.#data === undefined && offset < chunk.length) {
      const take = Math.min(this.#header.length - this.#headerFilled, chunk.length - offset);
      this.#header.set(chunk.subarray(offset, offset + take), this.#headerFilled);
      this.#headerFilled += take;
      offset += take;
      if (this.#headerFilled === this.#header.length) this.#onHeaderPart();
    }
    if (offset === chunk.length) return;
    // The header is complete, so #data is allocated.
    let data = this.#data as Uint8Array;
    const rest = chunk.length - offset;
    if (rest > this.#size - this.#dataFilled) {
      throw new IdxFormatError(
        this.#file,
        `expected ${this.#size} bytes of data after the ${this.#header.length}-byte header, ` +
          `found ${this.#dataFilled + rest - this.#size} or more trailing bytes`,
      );
    }
    if (this.#dataFilled + rest > data.length) {
      // grow by doubling toward the declared size: memory follows the bytes that arrived, so a
      // corrupt header declaring a huge size costs nothing until the data is really there
      const grown = new Uint8Array(
        Math.min(this.#size, Math.max(data.length * 2, this.#dataFilled + rest)),
      );
      grown.set(data.subarray(0, this.#dataFilled));
      this.#data = data = grown;
    }
    data.set(chunk.subarray(offset), this.#dataFilled);
    this.#dataFilled += rest;
  }

  /**
   * Ends the input and returns the parsed array.
   *
   * @throws {IdxFormatError} if the header or the data is truncated.
   */
  finish(): IdxArray {
    if (this.#finished) throw new Error(`${this.#file}: IdxParser.finish called twice`);
    this.#finished = true;
    if (this.#data === undefined || this.#dims === undefined) {
      const expected = this.#header.length === 4 ? "at least 4" : `${this.#header.length}`;
      throw new IdxFormatError(
        this.#file,
        `truncated header: expected ${expected} header bytes, found ${this.#headerFilled}`,
      );
    }
    if (this.#dataFilled !== this.#size) {
      throw new IdxFormatError(
        this.#file,
        `truncated data: expected ${this.#size} bytes of data, found ${this.#dataFilled}`,
      );
    }
    return { magic: this.#magic, dims: this.#dims, data: this.#data };
  }

  /** Called when #header is full: first the magic (4 bytes), then magic plus dimensions. */
  #onHeaderPart(): void {
    const h = this.#header;
    if (h.length === 4) {
      this.#checkMagic(h);
      const rank = h[3] as number;
      const full = new Uint8Array(4 + 4 * rank);
      full.set(h);
      this.#header = full;
      return;
    }
    const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
    const dims: number[] = [];
    for (let i = 4; i < h.length; i += 4) dims.push(view.getUint32(i, false));
    // Each factor is below 2^32, so the float product orders correctly against the limit even
    // when it is far beyond 2^53.
    const size = dims.reduce((a, b) => a * b, 1);
    if (size > this.#maxBytes) {
      throw new IdxFormatError(
        this.#file,
        `declared dimensions ${dims.join(" x ")} need ${size} bytes, more than the limit of ` +
          `${this.#maxBytes} bytes (corrupt header?)`,
      );
    }
    this.#dims = dims;
    this.#size = size;
    this.#data = new Uint8Array(Math.min(size, 1 << 16));
  }

  #checkMagic(h: Uint8Array): void {
    // #header is exactly 4 bytes here, so these reads are in range.
    const b0 = h[0] as number, b1 = h[1] as number, type = h[2] as number, rank = h[3] as number;
    const magic = ((b0 << 24) | (b1 << 16) | (type << 8) | rank) >>> 0;
    this.#magic = magic;
    if (b0 !== 0 || b1 !== 0) {
      const gzipHint = b0 === 0x1f && b1 === 0x8b ? " (this is gzip data)" : "";
      throw new IdxFormatError(
        this.#file,
        `expected an IDX magic starting with bytes 0x00 0x00, found 0x${hex2(b0)} 0x${hex2(b1)}` +
          gzipHint,
      );
    }
    const expect = this.#expect;
    if (expect !== undefined && magic !== expect.magic) {
      throw new IdxFormatError(
        this.#file,
        `expected IDX magic ${expect.magic} (${expect.description}), found ${describeMagic(magic)}`,
      );
    }
    if (type !== TYPE_UBYTE) {
      throw new IdxFormatError(
        this.#file,
        `expected IDX type byte 0x08 (unsigned byte), found 0x${hex2(type)} ` +
          `(${TYPE_NAMES.get(type) ?? "unknown type"})`,
      );
    }
    if (rank < 1 || rank > 4) {
      throw new IdxFormatError(this.#file, `expected IDX rank 1 to 4, found ${rank}`);
    }
  }
}

/**
 * Parses a whole IDX file held in memory.
 *
 * @param bytes The file content.
 * @param file The file name used in error messages.
 * @param options Size limit and expected magic.
 * @throws {IdxFormatError} if the bytes are not a complete, valid IDX unsigned-byte file.
 */
export function parseIdx(
  bytes: Uint8Array,
  file: string,
  options: IdxParserOptions = {},
): IdxArray {
  const parser = new IdxParser(file, options);
  parser.push(bytes);
  return parser.finish();
}
