// `deno task bench-ab`: two engine versions timed in one process; its flags and its table.

import assert from "node:assert/strict";
import { runScript } from "./_run_script.ts";

/** Runs the script with the permissions its `deno task bench-ab` entry grants. */
function run(...args: string[]) {
  return runScript("bench_ab", args, ["--allow-read", "--allow-env", "--allow-sys"]);
}

Deno.test("bench-ab without --before, or with a directory that holds no engine, exits 2", async () => {
  const [missing, wrong] = await Promise.all([run(), run("--before", "tests")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--before DIR is required/);
  assert.equal(wrong.code, 2);
  assert.match(
    wrong.stderr,
    /--before tests: expected a directory with engine\/wasm\/wasm_backend.ts/,
  );
});

Deno.test("bench-ab times both versions (here the tree against itself) and prints one row each", async () => {
  const r = await run("--before", ".", "--mode", "infer", "--reps", "3", "--workers", "1");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /model\.predict, batch 256; 3 reps, interleaved/);
  for (const name of ["before x1", "after x1"]) {
    const row = r.stdout.split("\n").find((l) => l.startsWith(`| ${name} |`));
    assert.ok(row !== undefined, `no row for ${name}:\n${r.stdout}`);
    const cells = row.split("|").slice(2, -1).map((c) => Number(c.trim()));
    assert.equal(cells.length, 5);
    // best <= q1 <= median <= q3, all positive; then images per second at the (unrounded) median
    assert.ok(
      cells[0]! > 0 && cells[0]! <= cells[1]! && cells[1]! <= cells[2]! && cells[2]! <= cells[3]!,
    );
    assert.ok(Math.abs(cells[4]! - 256000 / cells[2]!) <= 0.01 * cells[4]!, row);
  }
});

Deno.test("bench-ab --mode numbers finds the tree bitwise equal to itself and exits 0", async () => {
  const r = await run("--before", ".", "--mode", "numbers", "--reps", "3", "--workers", "1");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Weights after 3 training steps/);
  assert.match(
    r.stdout,
    /\| x1 \| bitwise the same \(131242\) \| bitwise the same \(1000\) \|/,
  );
});
