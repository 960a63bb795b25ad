// Ctrl-C during `deno task train`: the run checkpoints and exits 130, `--resume` finishes it with
// weights bitwise equal to an uninterrupted run, and a second Ctrl-C exits at once without
// damaging the last checkpoint. Uses the Dense network on the TypeScript backend to stay fast.

import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeCheckpoint } from "../../pipelines/checkpoint.ts";

const COMMON = [
  "--model",
  "dense",
  "--backend",
  "cpu",
  "--limit",
  "2400",
  "--test-limit",
  "200",
  "--epochs",
  "3",
  "--batch-size",
  "32",
  "--seed",
  "7",
  "--verbose",
  "2",
];

function train(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/train.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

/** Starts a run and sends `signals` SIGINTs once its output shows `trigger`. */
async function interrupt(args: string[], trigger: string, signals: number) {
  const child = train(args).spawn();
  const decoder = new TextDecoder();
  let out = "";
  let sent = false;
  const reader = child.stdout.getReader();
  const stderr = new Response(child.stderr).text();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
    if (!sent && out.includes(trigger)) {
      sent = true;
      for (let i = 0; i < signals; i++) child.kill("SIGINT");
    }
  }
  const status = await child.status;
  return { code: status.code, out, err: await stderr };
}

Deno.test("Ctrl-C in epoch 2 (or 3) checkpoints and exits 130; --resume ends bitwise equal to an uninterrupted run", async () => {
  const dir = await Deno.makeTempDir();
  const full = join(dir, "full");
  const parted = join(dir, "parted");
  const reference = await train([...COMMON, "--out", full, "--no-checkpoint"]).output();
  assert.equal(reference.code, 0, new TextDecoder().decode(reference.stderr));

  const stopped = await interrupt([...COMMON, "--out", parted], "Epoch 2/3", 1);
  assert.equal(stopped.code, 130, stopped.err);
  // The signal goes out when "Epoch 2/3" is read; on a busy machine the run may have reached
  // epoch 3 by the time it acts on it (an epoch here is 75 short steps), never an earlier one.
  const at = /stopped at epoch (\d+), step \d+/.exec(stopped.err);
  assert.ok(at !== null, stopped.err);
  const epoch = Number(at[1]);
  assert.ok(epoch === 2 || epoch === 3, `stopped at epoch ${epoch}`);
  assert.match(stopped.err, /resume with: deno task train --resume .*parted\/checkpoint/);
  const header = decodeCheckpoint(
    await Deno.readFile(join(parted, "checkpoint", "checkpoint.ckpt")),
    "ckpt",
  ).header;
  assert.equal(header.epoch, epoch - 1);

  const resumed = await train([
    "--resume",
    join(parted, "checkpoint"),
    "--epochs",
    "3",
    "--out",
    parted,
  ])
    .output();
  const resumedOut = new TextDecoder().decode(resumed.stdout);
  assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
  assert.match(resumedOut, new RegExp(`resuming from .*: epoch ${epoch}, step \\d+`));
  const a = await Deno.readFile(join(full, "group1-shard1of1.bin"));
  const b = await Deno.readFile(join(parted, "group1-shard1of1.bin"));
  assert.equal(a.length, 407050 * 4);
  assert.equal(b.length, a.length);
  // node:assert's deepEqual walks typed arrays element by element (minutes for 1.6 MB)
  const firstDifference = a.findIndex((v, i) => v !== b[i]);
  assert.equal(firstDifference, -1, `weights differ from byte ${firstDifference}`);
});

Deno.test("a second Ctrl-C exits 130 at once and leaves no damaged checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const result = await interrupt(
    [...COMMON, "--out", dir, "--checkpoint-every", "5"],
    "Epoch 2/3",
    2,
  );
  assert.equal(result.code, 130);
  const names = [...Deno.readDirSync(join(dir, "checkpoint"))].map((e) => e.name);
  // only the checkpoint itself: no temporary file left half-written beside it
  assert.deepEqual(names.filter((n) => !n.endsWith(".tmp")), ["checkpoint.ckpt"]);
  const header = decodeCheckpoint(
    await Deno.readFile(join(dir, "checkpoint", "checkpoint.ckpt")),
    "ckpt",
  ).header;
  assert.ok(header.epoch >= 1);
});

Deno.test("--resume refuses a contradicting flag and a missing checkpoint with exit code 2", async () => {
  const dir = await Deno.makeTempDir();
  const missing = await train(["--resume", join(dir, "nothing")]).output();
  assert.equal(missing.code, 2);
  assert.match(new TextDecoder().decode(missing.stderr), /no checkpoint here/);
  const first = await train([...COMMON, "--epochs", "1", "--limit", "64", "--out", dir]).output();
  assert.equal(first.code, 0, new TextDecoder().decode(first.stderr));
  const bad = await train(["--resume", join(dir, "checkpoint"), "--seed", "8"]).output();
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--seed 8 contradicts .* \(recorded: 7\)/);
});
