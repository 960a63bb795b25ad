import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileAtomic, writeTextFileAtomic } from "../../pipelines/atomic_write.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "atomic_write_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("writeFileAtomic writes 100,000 bytes exactly and leaves only the target in the directory", () =>
  inTempDir(async (dir) => {
    const data = Uint8Array.from({ length: 100000 }, (_, i) => (i * 7) % 256);
    const path = join(dir, "w.bin");
    await writeFileAtomic(path, data);
    assert.deepEqual(await Deno.readFile(path), data);
    assert.deepEqual(await namesIn(dir), ["w.bin"]);
  }));

Deno.test("writeTextFileAtomic writes UTF-8 text 'héllo ✓' and an empty string", () =>
  inTempDir(async (dir) => {
    const path = join(dir, "t.txt");
    await writeTextFileAtomic(path, "héllo ✓\n");
    assert.equal(await Deno.readTextFile(path), "héllo ✓\n");
    await writeTextFileAtomic(path, "");
    assert.equal(await Deno.readTextFile(path), "");
    assert.deepEqual(await namesIn(dir), ["t.txt"]);
  }));

Deno.test("writeFileAtomic overwriting a 1 MB file: a concurrent reader sees the old or the new file, never a mix", () =>
  inTempDir(async (dir) => {
    const path = join(dir, "f.bin");
    const oldData = new Uint8Array(1 << 20).fill(1);
    const newData = new Uint8Array(1 << 20).fill(2);
    await writeFileAtomic(path, oldData);
    let done = false;
    const reads: number[] = [];
    const reader = (async () => {
      while (!done) {
        const bytes = await Deno.readFile(path);
        assert.equal(bytes.length, 1 << 20, "a reader saw a partial file");
        const first = bytes[0]!;
        assert.ok(bytes.every((b) => b === first), "a reader saw a mix of old and new bytes");
        reads.push(first);
      }
    })();
    for (let i = 0; i < 4; i++) await writeFileAtomic(path, i % 2 === 0 ? newData : oldData);
    await writeFileAtomic(path, newData);
    done = true;
    await reader;
    assert.deepEqual(await Deno.readFile(path), newData);
    assert.ok(reads.every((b) => b === 1 || b === 2));
    assert.deepEqual(await namesIn(dir), ["f.bin"]);
  }));

Deno.test("writeFileAtomic into a missing directory throws NotFound and creates nothing", () =>
  inTempDir(async (dir) => {
    await assert.rejects(
      writeFileAtomic(join(dir, "missing", "f.bin"), new Uint8Array(8)),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await namesIn(dir), []);
  }));

Deno.test("writeFileAtomic onto a path that is a directory throws, keeps the directory, leaves no temp file", () =>
  inTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "target"));
    await Deno.writeTextFile(join(dir, "target", "keep.txt"), "kept");
    await assert.rejects(writeFileAtomic(join(dir, "target"), new Uint8Array([1, 2, 3])));
    assert.deepEqual(await namesIn(dir), ["target"]);
    assert.equal(await Deno.readTextFile(join(dir, "target", "keep.txt")), "kept");
  }));
