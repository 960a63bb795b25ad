import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { encodePng, writePng } from "../../pipelines/png_encode.ts";

Deno.test("encodePng of a 3x2 RGB raster decodes to 3x2, 3 channels, 8 bits, the same bytes in row order", () => {
  const data = Uint8Array.from({ length: 18 }, (_, i) => i * 10);
  const png = decode(encodePng({ width: 3, height: 2, data }));
  assert.equal(png.width, 3);
  assert.equal(png.height, 2);
  assert.equal(png.channels, 3);
  assert.equal(png.depth, 8);
  assert.deepEqual([...png.data], [...data]);
});

Deno.test("encodePng refuses a byte count that does not match width * height * 3, and empty sizes", () => {
  assert.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(11) }), TypeError);
  assert.throws(() => encodePng({ width: 0, height: 2, data: new Uint8Array(0) }), RangeError);
});

Deno.test("writePng creates the missing parent directory and writes a decodable file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "png_encode_test_" });
  try {
    const path = join(dir, "a", "b", "red.png");
    await writePng(path, { width: 1, height: 1, data: Uint8Array.of(255, 0, 0) });
    const png = decode(await Deno.readFile(path));
    assert.deepEqual([...png.data], [255, 0, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
