import assert from "node:assert/strict";
import { join } from "node:path";
import { tensor } from "../../engine/tensor.ts";
import { Dense } from "../../layers/dense.ts";
import { JsonlLog } from "../../pipelines/jsonl_log.ts";
import { Sequential } from "../../pipelines/sequential.ts";

async function inTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jsonl_log_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const readLines = (path: string) =>
  Deno.readTextFileSync(path).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));

Deno.test("JsonlLog writes one JSON line per epoch for 2 epochs, then write() appends the test record", () =>
  inTempDir((dir) => {
    const path = join(dir, "m.jsonl");
    const log = new JsonlLog(path);
    assert.equal(Deno.readTextFileSync(path), "");
    log.onEpochEnd(0, {
      loss: 0.5,
      accuracy: 0.8,
      val_loss: 0.4,
      val_accuracy: 0.85,
      seconds: 12.5,
    });
    log.onEpochEnd(1, {
      loss: 0.25,
      accuracy: 0.9,
      val_loss: 0.3,
      val_accuracy: 0.875,
      seconds: 11,
    });
    log.write({ test_loss: 0.125, test_accuracy: 0.96875, test_count: 10000 });
    const text = Deno.readTextFileSync(path);
    assert.ok(text.endsWith("\n"));
    assert.equal(text.split("\n").length, 4);
    assert.deepEqual(readLines(path), [
      { epoch: 1, loss: 0.5, accuracy: 0.8, val_loss: 0.4, val_accuracy: 0.85, seconds: 12.5 },
      { epoch: 2, loss: 0.25, accuracy: 0.9, val_loss: 0.3, val_accuracy: 0.875, seconds: 11 },
      { test_loss: 0.125, test_accuracy: 0.96875, test_count: 10000 },
    ]);
    // keys in Keras's order, epoch first
    assert.deepEqual(Object.keys(readLines(path)[0]), [
      "epoch",
      "loss",
      "accuracy",
      "val_loss",
      "val_accuracy",
      "seconds",
    ]);
  }));

Deno.test("JsonlLog truncates an existing log of 2 lines when it opens, keeps it with append: true", () =>
  inTempDir((dir) => {
    const path = join(dir, "m.jsonl");
    Deno.writeTextFileSync(path, '{"old":1}\n{"old":2}\n');
    const appended = new JsonlLog(path, { append: true });
    appended.onEpochEnd(2, { loss: 1, accuracy: 0.5 });
    assert.deepEqual(readLines(path), [{ old: 1 }, { old: 2 }, {
      epoch: 3,
      loss: 1,
      accuracy: 0.5,
    }]);
    new JsonlLog(path);
    assert.equal(Deno.readTextFileSync(path), "");
  }));

Deno.test("JsonlLog as a fit callback over 2 epochs with validationSplit 0.25 logs epoch, loss, accuracy, val_loss, val_accuracy, seconds", () =>
  inTempDir(async (dir) => {
    const path = join(dir, "fit.jsonl");
    // 40 rows of 4 features; class = the index of the largest feature, 4 classes
    const x = tensor([40, 4]);
    const y = tensor([40, 4]);
    for (let r = 0; r < 40; r++) {
      x.data[r * 4 + (r % 4)] = 1;
      y.data[r * 4 + (r % 4)] = 1;
    }
    const model = new Sequential({ seed: 1 });
    model.add(new Dense({ units: 4, activation: "softmax", inputShape: [4] }));
    model.compile({ optimizer: "sgd", loss: "categorical_crossentropy", metrics: ["accuracy"] });
    const history = await model.fit(x, y, {
      epochs: 2,
      batchSize: 8,
      validationSplit: 0.25,
      verbose: 0,
      callbacks: [new JsonlLog(path)],
    });
    const lines = readLines(path);
    assert.equal(lines.length, 2);
    lines.forEach((line, i) => {
      assert.deepEqual(Object.keys(line), [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
      ]);
      assert.equal(line.epoch, i + 1);
      assert.equal(line.loss, history.history.loss![i]);
      assert.equal(line.accuracy, history.history.accuracy![i]);
      assert.equal(line.val_loss, history.history.val_loss![i]);
      assert.equal(line.val_accuracy, history.history.val_accuracy![i]);
      assert.ok(typeof line.seconds === "number" && line.seconds >= 0 && line.seconds < 10);
    });
  }));
