import assert from "node:assert/strict";
import { join } from "node:path";
import { runScript, type ScriptRun } from "./_run_script.ts";

/** Runs `deno run -A scripts/train.ts ...args` from the repository root. */
function train(...args: string[]): Promise<ScriptRun> {
  return runScript("train", args);
}

Deno.test("train.ts --bogus exits with code 2 and names --bogus on stderr", async () => {
  const r = await train("--bogus");
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--bogus/);
  assert.match(r.stderr, /--help/);
  assert.equal(r.stdout, "");
});

Deno.test("train.ts exits with code 2 naming flag and value for --epochs 0, --epochs abc, --batch-size=-1, --model vgg, --verbose 3, --validation-split 1.5, --optimizer foo and 5 more", async () => {
  const cases: [string[], string, string][] = [
    [["--epochs", "0"], "--epochs", '"0"'],
    [["--epochs", "abc"], "--epochs", '"abc"'],
    [["--epochs", "1.5"], "--epochs", '"1.5"'],
    [["--batch-size=-1"], "--batch-size", '"-1"'],
    [["--batch-size", "0"], "--batch-size", '"0"'],
    [["--model", "vgg"], "--model", '"vgg"'],
    [["--verbose", "3"], "--verbose", '"3"'],
    [["--validation-split", "1.5"], "--validation-split", '"1.5"'],
    [["--optimizer", "foo"], "--optimizer", '"foo"'],
    [["--backend", "gpu"], "--backend", '"gpu"'],
    [["--learning-rate", "abc"], "--learning-rate", '"abc"'],
    [["--seed=-3"], "--seed", '"-3"'],
  ];
  const runs = await Promise.all(cases.map(([args]) => train(...args)));
  cases.forEach(([args, flag, value], i) => {
    const r = runs[i]!;
    const what = `${args.join(" ")}: stderr was ${JSON.stringify(r.stderr)}`;
    assert.equal(r.code, 2, what);
    assert.ok(r.stderr.includes(flag), what);
    assert.ok(r.stderr.includes(value), what);
    assert.ok(!r.stderr.includes("    at "), `${what}: a stack trace instead of a message`);
  });
});

Deno.test("train.ts exits with code 2 naming the flag for --batch-size -1 (parseArgs reads -1 as an option) and a missing --epochs value", async () => {
  for (const args of [["--batch-size", "-1"], ["--epochs"]]) {
    const r = await train(...args);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(args[0]!), r.stderr);
  }
});

Deno.test("train.ts with a positional argument 'extra' exits with code 2 naming it", async () => {
  const r = await train("extra");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /"extra"/);
});

Deno.test("train.ts --help exits with code 0 and lists every flag", async () => {
  const r = await train("--help");
  assert.equal(r.code, 0, r.stderr);
  for (
    const flag of [
      "--epochs",
      "--batch-size",
      "--optimizer",
      "--learning-rate",
      "--seed",
      "--data",
      "--limit",
      "--test-limit",
      "--validation-split",
      "--model",
      "--metrics",
      "--out",
      "--no-save",
      "--backend",
      "--workers",
      "--verbose",
      "--help",
    ]
  ) {
    assert.ok(r.stdout.includes(flag), `--help does not list ${flag}`);
  }
});

Deno.test("train.ts on 256 images for 1 epoch at batch 64 (verbose 2) prints test loss and accuracy, writes 2 JSON lines and the model", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "train_cli_test_" });
  try {
    const metrics = join(tmp, "m.jsonl");
    const out = join(tmp, "model");
    const r = await train(
      "--limit",
      "256",
      "--test-limit",
      "256",
      "--epochs",
      "1",
      "--batch-size",
      "64",
      "--verbose",
      "2",
      "--metrics",
      metrics,
      "--out",
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    // one epoch is not announced with "Epoch 1/1", as Keras
    assert.doesNotMatch(r.stdout, /Epoch 1\/1/);
    assert.match(r.stdout, /\n4\/4 - \d+s - loss: \d\.\d{4} - accuracy: \d\.\d{4} - /);
    assert.match(r.stdout, /test loss: \d\.\d{4}/);
    assert.match(r.stdout, /test accuracy: \d\.\d{4}/);
    const lines = (await Deno.readTextFile(metrics)).trimEnd().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(lines.length, 2);
    assert.equal(lines[0].epoch, 1);
    assert.ok(lines[0].loss > 0 && lines[0].loss < 10);
    assert.ok(lines[0].accuracy >= 0 && lines[0].accuracy <= 1);
    assert.ok(lines[0].seconds > 0);
    assert.equal(lines[1].test_count, 256);
    assert.ok(lines[1].test_accuracy >= 0 && lines[1].test_accuracy <= 1);
    // the printed test metrics are the logged ones
    assert.ok(r.stdout.includes(`test loss: ${lines[1].test_loss.toFixed(4)}`), r.stdout);
    const model = JSON.parse(await Deno.readTextFile(join(out, "model.json")));
    assert.equal(model.format, "layers-model");
    const [manifest] = model.weightsManifest;
    const weights = await Deno.stat(join(out, manifest.paths[0]));
    assert.equal(weights.size, 4 * 131242);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
