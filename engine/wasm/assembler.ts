/**
 * A tiny WebAssembly assembler: LEB128, the module sections the kernels need (types, one imported
 * shared memory, functions, exports, code) and a function-body builder with the handful of scalar
 * and SIMD128 opcodes the generated kernels use. It exists so that the kernels are generated from
 * TypeScript with their register-tile sizes as parameters, and no opaque binary is committed.
 *
 * @module
 */

/** WebAssembly value types used here. */
export const I32 = 0x7f;
/** The 128-bit SIMD value type. */
export const V128 = 0x7b;
/** A value type byte (`I32` or `V128`). */
export type ValType = typeof I32 | typeof V128;

/** Unsigned LEB128 encoding of a non-negative integer. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`uleb: bad value ${n}`);
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 encoding of a 32-bit integer. */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n)) throw new RangeError(`sleb: bad value ${n}`);
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A length-prefixed byte vector (names, section bodies). */
function vec(bytes: readonly number[]): number[] {
  return [...uleb(bytes.length), ...bytes];
}

/** Natural alignment exponent of f32 memory immediates. */
const ALIGN_F32 = 2;

/**
 * Builds one function body. Methods append opcodes and return `this`, so generated code reads as
 * a flat instruction list; structured control flow (`block`/`loop`/`if`) is closed with `end()`.
 */
export class FuncBuilder {
  /** The body's opcode bytes (without the locals header). */
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];

  /**
   * @param params parameter types (locals 0..params.length-1)
   * @param results result types
   */
  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  /** Declares a new local and returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Appends raw bytes. */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  // Control flow. Block types are always empty: the generated code keeps values in locals.
  block(): this {
    return this.raw(0x02, 0x40);
  }
  loop(): this {
    return this.raw(0x03, 0x40);
  }
  if_(): this {
    return this.raw(0x04, 0x40);
  }
  else_(): this {
    return this.raw(0x05);
  }
  end(): this {
    return this.raw(0x0b);
  }
  br(depth: number): this {
    return this.raw(0x0c, ...uleb(depth));
  }
  brIf(depth: number): this {
    return this.raw(0x0d, ...uleb(depth));
  }
  call(funcIndex: number): this {
    return this.raw(0x10, ...uleb(funcIndex));
  }

  // Locals and constants.
  get(i: number): this {
    return this.raw(0x20, ...uleb(i));
  }
  set(i: number): this {
    return this.raw(0x21, ...uleb(i));
  }
  tee(i: number): this {
    return this.raw(0x22, ...uleb(i));
  }
  i32(n: number): this {
    return this.raw(0x41, ...sleb(n));
  }

  // i32 arithmetic and comparisons.
  eqz(): this {
    return this.raw(0x45);
  }
  eq(): this {
    return this.raw(0x46);
  }
  ne(): this {
    return this.raw(0x47);
  }
  ltS(): this {
    return this.raw(0x48);
  }
  ltU(): this {
    return this.raw(0x49);
  }
  gtS(): this {
    return this.raw(0x4a);
  }
  leS(): this {
    return this.raw(0x4c);
  }
  geS(): this {
    return this.raw(0x4e);
  }
  add(): this {
    return this.raw(0x6a);
  }
  sub(): this {
    return this.raw(0x6b);
  }
  mul(): this {
    return this.raw(0x6c);
  }
  divU(): this {
    return this.raw(0x6e);
  }
  and(): this {
    return this.raw(0x71);
  }
  or(): this {
    return this.raw(0x72);
  }
  shl(): this {
    return this.raw(0x74);
  }
  shrU(): this {
    return this.raw(0x76);
  }
  select(): this {
    return this.raw(0x1b);
  }

  // Scalar memory (natural alignment: every pointer the kernels use is 4-byte aligned).
  f32Store(offset = 0): this {
    return this.raw(0x38, ALIGN_F32, ...uleb(offset));
  }
  f32Load(offset = 0): this {
    return this.raw(0x2a, ALIGN_F32, ...uleb(offset));
  }
  i32Load(offset = 0): this {
    return this.raw(0x28, ALIGN_F32, ...uleb(offset));
  }
  i32Store(offset = 0): this {
    return this.raw(0x36, ALIGN_F32, ...uleb(offset));
  }
  f32Add(): this {
    return this.raw(0x92);
  }
  /** `memory.fill(dst, value, bytes)` on memory 0 (bulk memory). */
  memoryFill(): this {
    return this.raw(0xfc, ...uleb(11), 0x00);
  }

  // SIMD128 (prefix 0xfd, then the LEB-encoded opcode).
  private simd(op: number): this {
    return this.raw(0xfd, ...uleb(op));
  }
  v128Load(offset = 0): this {
    // Alignment hint 0: NHWC rows of odd channel counts are not 16-byte aligned.
    return this.simd(0x00).raw(0, ...uleb(offset));
  }
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09).raw(ALIGN_F32, ...uleb(offset));
  }
  /** Loads 8 bytes into lanes 0-1 (as 32-bit lanes), zeroing lanes 2-3. */
  v128Load64Zero(offset = 0): this {
    return this.simd(0x5d).raw(0, ...uleb(offset));
  }
  /** Stores 64-bit lane `lane` (0 or 1) of a vector: two f32 lanes, or one f64. */
  v128Store64Lane(lane: number, offset = 0): this {
    return this.simd(0x5b).raw(0, ...uleb(offset), lane);
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b).raw(0, ...uleb(offset));
  }
  v128Zero(): this {
    return this.simd(0x0c).raw(...new Array<number>(16).fill(0));
  }
  /** A constant i32x4 vector. */
  i32x4Const(lanes: readonly [number, number, number, number]): this {
    const bytes: number[] = [];
    for (const v of lanes) {
      bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    }
    return this.simd(0x0c).raw(...bytes);
  }
  /** `i8x16.shuffle` of two vectors by 32-bit lanes (0-3 from the first, 4-7 from the second). */
  f32x4Shuffle(lanes: readonly [number, number, number, number]): this {
    const bytes: number[] = [];
    for (const l of lanes) bytes.push(4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3);
    return this.simd(0x0d).raw(...bytes);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  i32x4ExtractLane(lane: number): this {
    return this.simd(0x1b).raw(lane);
  }
  /** Lane-wise i32 equality: all ones where equal. */
  i32x4Eq(): this {
    return this.simd(0x37);
  }
  i32x4Add(): this {
    return this.simd(0xae);
  }
  /** `v128.bitselect(a, b, mask)`: bits of a where mask is set, else of b. */
  v128Bitselect(): this {
    return this.simd(0x52);
  }
  f32x4ExtractLane(lane: number): this {
    return this.simd(0x1f).raw(lane);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  /** `v128.andnot(a, b)` = a & ~b. */
  v128Andnot(): this {
    return this.simd(0x4f);
  }
  f32x4Ne(): this {
    return this.simd(0x42);
  }
  /** 1 if any bit of the vector is set, else 0 (an i32). */
  v128AnyTrue(): this {
    return this.simd(0x53);
  }
  f32x4Lt(): this {
    return this.simd(0x43);
  }
  f32x4Gt(): this {
    return this.simd(0x44);
  }
  /**
   * Pseudo-maximum `a < b ? b : a`, one `maxps` on x64 (`f32x4.max` takes several): with b = 0
   * it is `a < 0 ? 0 : a`, the relu that lets NaN and -0 through.
   */
  f32x4Pmax(): this {
    return this.simd(0xeb);
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Neg(): this {
    return this.simd(0xe1);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  /** The low two f32 lanes widened to an f64x2 (exact). */
  f64x2PromoteLowF32x4(): this {
    return this.simd(0x5f);
  }
  /** Both f64 lanes rounded to f32 into lanes 0-1, lanes 2-3 zero. */
  f32x4DemoteF64x2Zero(): this {
    return this.simd(0x5e);
  }
  f64x2Add(): this {
    return this.simd(0xf0);
  }
  f64x2Sub(): this {
    return this.simd(0xf1);
  }
  f64x2Mul(): this {
    return this.simd(0xf2);
  }
  f64x2Div(): this {
    return this.simd(0xf3);
  }
  /** Correctly rounded, as `Math.sqrt`. */
  f64x2Sqrt(): this {
    return this.simd(0xef);
  }
  /** Relaxed fused (or not) multiply-add: a * b + c (relaxed-SIMD opcode 0x105). */
  f32x4RelaxedMadd(): this {
    return this.simd(0x105);
  }

  /** The encoded body: locals header (run-length grouped), code, final `end`. */
  encode(): number[] {
    const groups: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const header = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t])];
    return vec([...header, ...this.code, 0x0b]);
  }
}

/** A function of a module: its builder and, if exported, its export name. */
export interface ModuleFunc {
  readonly body: FuncBuilder;
  readonly exportName?: string;
}

/** The imported memory's limits, in 64 KiB pages. */
export interface MemoryImport {
  readonly initialPages: number;
  readonly maximumPages: number;
  readonly shared: boolean;
}

/**
 * Assembles a module that imports `env.memory` and defines `funcs` in order (function index `i`
 * is `funcs[i]`, since nothing else is imported).
 */
export function assembleModule(
  memory: MemoryImport,
  funcs: readonly ModuleFunc[],
): Uint8Array<ArrayBuffer> {
  const typeKeys: string[] = [];
  const typeBytes: number[][] = [];
  const funcTypes = funcs.map(({ body }) => {
    const bytes = [0x60, ...vec([...body.params]), ...vec([...body.results])];
    const key = bytes.join(",");
    let i = typeKeys.indexOf(key);
    if (i < 0) {
      i = typeKeys.length;
      typeKeys.push(key);
      typeBytes.push(bytes);
    }
    return i;
  });
  const section = (id: number, body: number[]) => [id, ...vec(body)];
  const name = (s: string) => vec([...new TextEncoder().encode(s)]);

  const limitsFlag = memory.shared ? 0x03 : 0x01;
  const imports = [
    ...uleb(1),
    ...name("env"),
    ...name("memory"),
    0x02,
    limitsFlag,
    ...uleb(memory.initialPages),
    ...uleb(memory.maximumPages),
  ];
  const exported = funcs.flatMap((f, i) =>
    f.exportName === undefined ? [] : [[...name(f.exportName), 0x00, ...uleb(i)]]
  );
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [...uleb(typeBytes.length), ...typeBytes.flat()]),
    ...section(2, imports),
    ...section(3, [...uleb(funcs.length), ...funcTypes.flatMap((t) => uleb(t))]),
    ...section(7, [...uleb(exported.length), ...exported.flat()]),
    ...section(10, [...uleb(funcs.length), ...funcs.flatMap((f) => f.body.encode())]),
  ];
  return new Uint8Array(bytes);
}
