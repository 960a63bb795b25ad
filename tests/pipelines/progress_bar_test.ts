import assert from "node:assert/strict";
import type { StepMetrics } from "../../layers/step.ts";
import type { EpochLogs } from "../../pipelines/callbacks.ts";
import {
  formatBar,
  formatEta,
  formatMetric,
  formatTimePerStep,
  ProgressBar,
  type ProgressBarOptions,
} from "../../pipelines/progress_bar.ts";

const FULL = "938/938 [==============================]";

Deno.test("formatBar(938, 938) is a full bar of 30 '='", () => {
  assert.equal(formatBar(938, 938), FULL);
});

Deno.test("formatBar(1, 938) pads the count to 3 digits and draws 30 '.'", () => {
  assert.equal(formatBar(1, 938), "  1/938 [..............................]");
});

Deno.test("formatBar(469, 938) draws 14 '=', then '>', then 15 '.'", () => {
  assert.equal(formatBar(469, 938), `469/938 [${"=".repeat(14)}>${".".repeat(15)}]`);
});

Deno.test("formatBar(32, 938) draws '>' then 29 '.'; formatBar(937, 938) 28 '=', '>' and 1 '.'", () => {
  assert.equal(formatBar(32, 938), ` 32/938 [>${".".repeat(29)}]`);
  assert.equal(formatBar(937, 938), `937/938 [${"=".repeat(28)}>.]`);
  assert.equal(formatBar(5, 10), ` 5/10 [${"=".repeat(14)}>${".".repeat(15)}]`);
});

Deno.test("formatMetric writes %.4f above 1e-3 and %.4e (two-digit exponent) at or below", () => {
  assert.equal(formatMetric(0.14281), "0.1428");
  assert.equal(formatMetric(0.95571), "0.9557");
  assert.equal(formatMetric(2.302585), "2.3026");
  assert.equal(formatMetric(0.0001234), "1.2340e-04");
  assert.equal(formatMetric(0.001), "1.0000e-03");
  assert.equal(formatMetric(0), "0.0000e+00");
  assert.equal(formatMetric(1.5e-12), "1.5000e-12");
  assert.equal(formatMetric(-0.5), "-0.5000");
});

Deno.test("formatEta writes 42 as 42s, 125 as 2:05, 3723 as 1:02:03 (and 60 as 60s, 61.9 as 1:01)", () => {
  assert.equal(formatEta(42), "42s");
  assert.equal(formatEta(125), "2:05");
  assert.equal(formatEta(3723), "1:02:03");
  assert.equal(formatEta(60), "60s");
  assert.equal(formatEta(61.9), "1:01");
  assert.equal(formatEta(0.4), "0s");
});

Deno.test("formatTimePerStep writes 0.044 as 44ms/step, 2.3 as 2s/step, 0.00035 as 350us/step", () => {
  assert.equal(formatTimePerStep(0.044), "44ms/step");
  assert.equal(formatTimePerStep(2.3), "2s/step");
  assert.equal(formatTimePerStep(0.00035), "350us/step");
  assert.equal(formatTimePerStep(0), "0s/step");
});

/** A clock the test moves, a write collector, and a bar wired to both. */
function harness(options: ProgressBarOptions) {
  const clock = { t: 0 };
  const out: string[] = [];
  const bar = new ProgressBar({
    now: () => clock.t,
    write: (s) => out.push(s),
    ...options,
  });
  return { clock, out, bar };
}

const step = (i: number): StepMetrics => ({ step: i, size: 64, loss: 0.2, correct: 60, ms: 44 });
const logs: EpochLogs = { loss: 0.14281, accuracy: 0.95571 };

/** Runs one epoch of `steps` steps at 44 ms each, then ends at 41.27 s. */
function runEpoch(
  h: ReturnType<typeof harness>,
  epoch: number,
  steps: number,
  epochLogs: EpochLogs = logs,
) {
  h.clock.t = 1000 * epoch * 100;
  const t0 = h.clock.t;
  h.bar.onEpochBegin(epoch);
  for (let i = 1; i <= steps; i++) {
    h.clock.t = t0 + i * 44;
    h.bar.onBatchEnd(step(i), { loss: 0.5 - i * 1e-4, accuracy: 0.9 });
  }
  h.clock.t = t0 + 41270;
  h.bar.onEpochEnd(epoch, epochLogs);
}

Deno.test("ProgressBar (not a TTY) writes exactly Keras's epoch line for 938 steps in 41.27 s", () => {
  const h = harness({ isTTY: false, verbose: 1 });
  h.bar.onTrainBegin({ epochs: 2, steps: 938 });
  runEpoch(h, 0, 938);
  assert.equal(
    h.out.join(""),
    "Epoch 1/2\n" +
      `${FULL} - 41s 44ms/step - loss: 0.1428 - accuracy: 0.9557\n`,
  );
  runEpoch(h, 1, 938);
  assert.equal(h.out.slice(2).join("").split("\n")[0], "Epoch 2/2");
});

Deno.test("ProgressBar (not a TTY) appends - val_loss: 0.0912 - val_accuracy: 0.9721 after the metrics", () => {
  const h = harness({ isTTY: false });
  h.bar.onTrainBegin({ epochs: 2, steps: 938 });
  runEpoch(h, 0, 938, { ...logs, val_loss: 0.09123, val_accuracy: 0.97214 });
  assert.equal(
    h.out.join(""),
    "Epoch 1/2\n" +
      `${FULL} - 41s 44ms/step - loss: 0.1428 - accuracy: 0.9557 - val_loss: 0.0912 - val_accuracy: 0.9721\n`,
  );
});

Deno.test("ProgressBar leaves out the epoch's seconds from the printed metrics", () => {
  const h = harness({ isTTY: false });
  h.bar.onTrainBegin({ epochs: 1, steps: 938 });
  runEpoch(h, 0, 938, { ...logs, seconds: 41.27 });
  assert.ok(!h.out.join("").includes("seconds"));
});

Deno.test("ProgressBar verbose 2 writes Keras's line 938/938 - 41s - loss ... - 41s/epoch - 44ms/step", () => {
  for (const isTTY of [false, true]) {
    const h = harness({ isTTY, verbose: 2 });
    h.bar.onTrainBegin({ epochs: 2, steps: 938 });
    runEpoch(h, 0, 938, { ...logs, val_loss: 0.09123, val_accuracy: 0.97214 });
    assert.equal(
      h.out.join(""),
      "Epoch 1/2\n" +
        "938/938 - 41s - loss: 0.1428 - accuracy: 0.9557 - val_loss: 0.0912 - val_accuracy: 0.9721" +
        " - 41s/epoch - 44ms/step\n",
    );
  }
});

Deno.test("ProgressBar on a TTY redraws with \\r, shows ETA: 20s at step 469 of 938 (44 ms steps), and ends with the full line", () => {
  const h = harness({ isTTY: true });
  h.bar.onTrainBegin({ epochs: 2, steps: 938 });
  runEpoch(h, 0, 938);
  assert.equal(h.out[0], "Epoch 1/2\n");
  const draws = h.out.slice(1);
  // every draw returns to the start of the line; only the last one ends it
  assert.ok(draws.every((d) => d.startsWith("\r")));
  assert.ok(draws.slice(0, -1).every((d) => !d.includes("\n")));
  assert.ok(draws.at(-1)!.endsWith("\n"));
  // at most one draw per 50 ms: 44 ms steps give a draw every other step (plus the last step and the end)
  assert.ok(draws.length >= 400 && draws.length <= 480, `${draws.length} draws`);
  // the first draw is step 1 at 44 ms: ETA 937 * 0.044 = 41.2 s
  assert.equal(
    draws[0],
    `\r  1/938 [..............................] - ETA: 41s - loss: 0.4999 - accuracy: 0.9000`,
  );
  const mid = draws.find((d) => d.startsWith("\r469/938"));
  assert.ok(mid !== undefined, "no draw at step 469");
  // 469 * 44 ms = 20.6 s so far, 469 steps to go at 44 ms: ETA 20.6 s -> 20s
  assert.equal(
    mid.trimEnd(),
    `\r469/938 [${"=".repeat(14)}>${".".repeat(15)}] - ETA: 20s - loss: 0.4531 - accuracy: 0.9000`,
  );
  assert.equal(
    draws.at(-1)!.trimEnd(),
    `\r${FULL} - 41s 44ms/step - loss: 0.1428 - accuracy: 0.9557`,
  );
});

Deno.test("ProgressBar on a TTY pads a shorter redraw with spaces over the longer previous line", () => {
  const h = harness({ isTTY: true });
  h.bar.onTrainBegin({ epochs: 1, steps: 10 });
  h.bar.onEpochBegin(0);
  h.clock.t = 100;
  h.bar.onBatchEnd(step(1), { loss: 12.3456, accuracy: 0.5 });
  h.clock.t = 200;
  h.bar.onBatchEnd(step(2), { loss: 1.2345, accuracy: 0.5 });
  const [first, second] = h.out;
  assert.equal(first!.length, second!.length);
  assert.ok(second!.endsWith(" "));
});

Deno.test("ProgressBar with unknown steps on a TTY draws 7/Unknown, then ends 7/7", () => {
  const h = harness({ isTTY: true });
  h.bar.onTrainBegin({ epochs: 1, steps: undefined });
  h.bar.onEpochBegin(0);
  for (let i = 1; i <= 7; i++) {
    h.clock.t = i * 100;
    h.bar.onBatchEnd(step(i), { loss: 0.25, accuracy: 0.5 });
  }
  h.clock.t = 2000;
  h.bar.onEpochEnd(0, { loss: 0.25, accuracy: 0.5 });
  // a single epoch is not announced, as Keras's ProgbarLogger does
  assert.ok(!h.out.some((l) => l.startsWith("Epoch")));
  assert.equal(h.out[6], "\r7/Unknown - 1s 100ms/step - loss: 0.2500 - accuracy: 0.5000");
  assert.equal(
    h.out.at(-1)!.trimEnd(),
    `\r7/7 [${"=".repeat(30)}] - 2s 286ms/step - loss: 0.2500 - accuracy: 0.5000`,
  );
});
