import assert from "node:assert/strict";
import { gzipSync } from "fflate";
import { GzipFormatError, readMaybeGzipped } from "../../pipelines/gunzip.ts";
import { IdxFormatError } from "../../pipelines/idx.ts";

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** MNIST-like bytes: mostly zeros with bright runs, so deflate uses dynamic Huffman blocks. */
function imageLike(n: number, seed = 7): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, (_, i) => (i % 28 > 8 && i % 28 < 20 ? r() * 256 : 0));
}

const CONTENT = imageLike(100_000);
const GZ = gzipSync(CONTENT);
/** For tiny reads: each read is an async op, and fflate re-copies its pending input per push. */
const SMALL = imageLike(3000, 8);
const SMALL_GZ = gzipSync(SMALL);

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gunzip_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeTemp(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

/** Reads the whole file through readMaybeGzipped and returns the concatenated chunks. */
async function readAll(path: string, chunkBytes?: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await readMaybeGzipped(
    path,
    (c) => chunks.push(c),
    chunkBytes === undefined ? {} : { chunkBytes },
  );
  assert.ok(chunks.every((c) => c.length > 0), "no empty chunks");
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function assertGzipError(path: string, pattern: RegExp, chunkBytes?: number): Promise<void> {
  await assert.rejects(readAll(path, chunkBytes), (e: unknown) => {
    assert.ok(e instanceof GzipFormatError, `expected a GzipFormatError, got ${e}`);
    assert.ok(e instanceof IdxFormatError);
    assert.equal(e.file, path);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("readMaybeGzipped passes a raw file through unchanged in 1-byte, 7-byte and 1 MiB reads", async () => {
  await withTempDir(async (dir) => {
    const small = await writeTemp(dir, "small.idx", SMALL);
    for (const size of [1, 7]) assert.deepStrictEqual(await readAll(small, size), SMALL);
    assert.deepStrictEqual(await readAll(await writeTemp(dir, "raw.idx", CONTENT)), CONTENT);
  });
});

Deno.test("readMaybeGzipped inflates a gzip file in 1-byte, 7-byte, 4096-byte and 1 MiB reads", async () => {
  await withTempDir(async (dir) => {
    const small = await writeTemp(dir, "small.gz", SMALL_GZ);
    for (const size of [1, 7]) assert.deepStrictEqual(await readAll(small, size), SMALL);
    const path = await writeTemp(dir, "data.gz", GZ);
    for (const size of [4096, undefined]) {
      assert.deepStrictEqual(await readAll(path, size), CONTENT);
    }
  });
});

Deno.test("readMaybeGzipped detects gzip by magic bytes, not by the .gz file name", async () => {
  await withTempDir(async (dir) => {
    assert.deepStrictEqual(await readAll(await writeTemp(dir, "no-suffix", GZ)), CONTENT);
    assert.deepStrictEqual(await readAll(await writeTemp(dir, "raw.gz", CONTENT)), CONTENT);
  });
});

Deno.test("readMaybeGzipped inflates a gzip header with a file name and stored (level 0) blocks", async () => {
  await withTempDir(async (dir) => {
    const gz = gzipSync(CONTENT, { level: 0, filename: "train-images-idx3-ubyte", mtime: 0 });
    assert.deepStrictEqual(await readAll(await writeTemp(dir, "named.gz", gz), 4096), CONTENT);
    const small = gzipSync(SMALL, { level: 0, filename: "a-long-name-spanning-reads", mtime: 0 });
    assert.deepStrictEqual(await readAll(await writeTemp(dir, "small.gz", small), 5), SMALL);
  });
});

Deno.test("readMaybeGzipped inflates a 2-member gzip file (cat a.gz b.gz) to both contents", async () => {
  await withTempDir(async (dir) => {
    const a = CONTENT.subarray(0, 30_000), b = CONTENT.subarray(30_000);
    const both = new Uint8Array([...gzipSync(a), ...gzipSync(b)]);
    const path = await writeTemp(dir, "two.gz", both);
    for (const size of [1000, undefined]) {
      assert.deepStrictEqual(await readAll(path, size), CONTENT);
    }
    const smallBoth = new Uint8Array([
      ...gzipSync(SMALL.subarray(0, 1000)),
      ...gzipSync(SMALL.subarray(1000)),
    ]);
    assert.deepStrictEqual(
      await readAll(await writeTemp(dir, "two-small.gz", smallBoth), 3),
      SMALL,
    );
  });
});

Deno.test("readMaybeGzipped handles an empty file, a 1-byte file and a gzip of nothing", async () => {
  await withTempDir(async (dir) => {
    assert.deepStrictEqual(
      await readAll(await writeTemp(dir, "empty", new Uint8Array(0))),
      new Uint8Array(0),
    );
    assert.deepStrictEqual(
      await readAll(await writeTemp(dir, "one", new Uint8Array([0x1f]))),
      new Uint8Array([0x1f]),
    );
    const nothing = await writeTemp(dir, "nothing.gz", gzipSync(new Uint8Array(0)));
    assert.deepStrictEqual(await readAll(nothing), new Uint8Array(0));
  });
});

Deno.test("readMaybeGzipped rejects gzip data with bytes flipped in the deflate body", async () => {
  await withTempDir(async (dir) => {
    // Every position from just after the 10-byte header to just before the 8-byte trailer.
    const step = Math.max(1, Math.floor((GZ.length - 18) / 40));
    for (let at = 10; at < GZ.length - 8; at += step) {
      const bad = GZ.slice();
      bad[at] = (bad[at] as number) ^ 0xff;
      const path = await writeTemp(dir, `flip${at}.gz`, bad);
      await assertGzipError(path, /corrupt gzip data/);
    }
  });
});

Deno.test("readMaybeGzipped rejects a bit flip in stored (level 0) data through the CRC-32 check", async () => {
  await withTempDir(async (dir) => {
    const bad = gzipSync(CONTENT, { level: 0 });
    bad[5000] = (bad[5000] as number) ^ 1;
    await assertGzipError(
      await writeTemp(dir, "stored.gz", bad),
      /truncated or corrupt gzip data: the trailer says 100000 bytes with CRC-32 0x[0-9a-f]{8}, the inflated data is 100000 bytes with CRC-32 0x[0-9a-f]{8}$/,
    );
  });
});

Deno.test("readMaybeGzipped rejects a gzip file whose trailer CRC-32 or length was altered", async () => {
  await withTempDir(async (dir) => {
    for (const at of [GZ.length - 8, GZ.length - 1]) {
      const bad = GZ.slice();
      bad[at] = (bad[at] as number) ^ 0x40;
      await assertGzipError(await writeTemp(dir, `trailer${at}.gz`, bad), /the trailer says/);
    }
  });
});

Deno.test("readMaybeGzipped rejects a gzip file truncated by 1, 4, 8, 100 and all but 12 bytes, in any read size", async () => {
  await withTempDir(async (dir) => {
    for (const cut of [1, 4, 8, 100, GZ.length - 12]) {
      const path = await writeTemp(dir, `cut${cut}.gz`, GZ.subarray(0, GZ.length - cut));
      await assertGzipError(path, /truncated|corrupt|unexpected EOF/);
      await assertGzipError(path, /truncated|corrupt|unexpected EOF/, 4096);
    }
    for (const cut of [1, 8, 100]) {
      const path = await writeTemp(
        dir,
        `small-cut${cut}.gz`,
        SMALL_GZ.subarray(0, SMALL_GZ.length - cut),
      );
      await assertGzipError(path, /truncated|corrupt|unexpected EOF/, 7);
    }
  });
});

Deno.test("readMaybeGzipped rejects garbage after the gzip magic bytes", async () => {
  await withTempDir(async (dir) => {
    const r = rng(3);
    const garbage = Uint8Array.from(
      { length: 500 },
      (_, i) => (i === 0 ? 0x1f : i === 1 ? 0x8b : r() * 256),
    );
    await assertGzipError(
      await writeTemp(dir, "garbage.gz", garbage),
      /corrupt gzip data.*invalid gzip data/,
    );
    const short = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    await assertGzipError(
      await writeTemp(dir, "short.gz", short),
      /expected at least 18 bytes, found 10/,
    );
  });
});

Deno.test("readMaybeGzipped rejects 2 and 20 trailing bytes after a complete gzip member", async () => {
  await withTempDir(async (dir) => {
    for (const extra of [2, 20]) {
      const path = await writeTemp(
        dir,
        `tail${extra}.gz`,
        new Uint8Array([...GZ, ...new Uint8Array(extra)]),
      );
      await assertGzipError(path, /corrupt gzip data|the trailer says/);
    }
  });
});

Deno.test("readMaybeGzipped rethrows the consumer's own error unchanged when the gzip data is fine", async () => {
  await withTempDir(async (dir) => {
    const path = await writeTemp(dir, "ok.gz", GZ);
    const mine = new Error("consumer says no");
    await assert.rejects(
      readMaybeGzipped(path, () => {
        throw mine;
      }),
      (e: unknown) => e === mine,
    );
    const rawPath = await writeTemp(dir, "ok.raw", CONTENT);
    await assert.rejects(
      readMaybeGzipped(rawPath, () => {
        throw mine;
      }),
      (e: unknown) => e === mine,
    );
  });
});

Deno.test("readMaybeGzipped reports corrupt gzip rather than the consumer's error it caused", async () => {
  await withTempDir(async (dir) => {
    const bad = gzipSync(CONTENT, { level: 0 });
    bad[20] = (bad[20] as number) ^ 1;
    const path = await writeTemp(dir, "stored-bad.gz", bad);
    let calls = 0;
    await assert.rejects(
      readMaybeGzipped(path, () => {
        calls++;
        throw new Error("consumer saw bad data");
      }),
      GzipFormatError,
    );
    assert.equal(calls, 1, "the consumer is not called again after it threw");
  });
});

Deno.test("readMaybeGzipped lets Deno.open's NotFound through for a missing file", async () => {
  await assert.rejects(
    readMaybeGzipped("/nonexistent/dir/file.gz", () => {}),
    Deno.errors.NotFound,
  );
});

Deno.test("readMaybeGzipped refuses chunkBytes 0", async () => {
  await assert.rejects(readMaybeGzipped("x", () => {}, { chunkBytes: 0 }), RangeError);
});
