import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type MetricsRecord,
  niceTicks,
  parseMetricsJsonl,
  readMetricsJsonl,
  recordsFromHistory,
  trainingPlotSvg,
  writeTrainingPlot,
} from "../../pipelines/svg_plot.ts";

const LOG = [
  '{"epoch":1,"loss":0.70,"accuracy":0.78,"val_loss":0.24,"val_accuracy":0.92,"seconds":18.5}',
  '{"epoch":2,"loss":0.18,"accuracy":0.945,"val_loss":0.16,"val_accuracy":0.957,"seconds":16.3}',
  '{"epoch":3,"loss":0.11,"accuracy":0.965,"val_loss":0.135,"val_accuracy":0.945,"seconds":14.5}',
  '{"test_loss":0.1285,"test_accuracy":0.9575,"test_count":10000}',
  "",
].join("\n");

/** Checks that tags nest and close, attributes are quoted, and returns the element names seen. */
function assertWellFormed(svg: string): string[] {
  assert.ok(svg.startsWith("<svg "), "starts with <svg");
  const stack: string[] = [];
  const names: string[] = [];
  const body = svg.replace(/<title>[^<]*<\/title>/g, "");
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the open element`);
    else {
      names.push(name!);
      if (!selfClose) stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], "every element is closed");
  // every '<' starts a tag the pattern above accepted, so no stray markup is left
  const tags = body.match(/</g)!.length;
  const matched = [...body.matchAll(/<\/?[a-zA-Z][\w-]*(?:\s+[\w:-]+="[^"<]*")*\s*\/?>/g)].length;
  assert.equal(matched, tags, "no malformed tag");
  assert.ok(!/NaN|undefined|Infinity/.test(svg), "no NaN, undefined or Infinity");
  return names;
}

function polylines(svg: string): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (const m of svg.matchAll(/<polyline data-series="([^"]+)"[^>]* points="([^"]+)"/g)) {
    out.set(m[1]!, m[2]!.split(" ").map((p) => p.split(",").map(Number) as [number, number]));
  }
  return out;
}

Deno.test("parseMetricsJsonl reads epoch and test records and names the file and line of a bad one", () => {
  const records = parseMetricsJsonl(LOG);
  assert.equal(records.length, 4);
  assert.equal((records[3] as { test_accuracy: number }).test_accuracy, 0.9575);
  assert.throws(() => parseMetricsJsonl('{"epoch":1}\n', "m.jsonl"), /m\.jsonl:1/);
  assert.throws(() => parseMetricsJsonl("{\n", "m.jsonl"), /m\.jsonl:1: not JSON/);
});

Deno.test("trainingPlotSvg is well-formed SVG with 4 polylines (train/validation loss and accuracy) of 3 points each", () => {
  const svg = trainingPlotSvg(parseMetricsJsonl(LOG));
  const names = assertWellFormed(svg);
  assert.equal(names.filter((n) => n === "polyline").length, 4);
  const lines = polylines(svg);
  assert.deepEqual(
    [...lines.keys()].sort(),
    ["train accuracy", "train loss", "validation accuracy", "validation loss"],
  );
  for (const [name, pts] of lines) {
    assert.equal(pts.length, 3, name);
    assert.ok(pts[0]![0] < pts[1]![0] && pts[1]![0] < pts[2]![0], `${name}: epochs left to right`);
  }
  // the loss falls, so its points go down the page (larger y) from epoch 1 to 3
  const loss = lines.get("train loss")!;
  assert.ok(loss[0]![1] < loss[2]![1]);
  // the accuracy rises: smaller y
  const acc = lines.get("train accuracy")!;
  assert.ok(acc[0]![1] > acc[2]![1]);
  for (const label of ["epoch", "Loss", "Accuracy", "validation", "test 0.9575", "test 0.1285"]) {
    assert.ok(svg.includes(label), `has ${label}`);
  }
  assert.equal((svg.match(/class="test"/g) ?? []).length, 2);
});

Deno.test("without validation or test records the plot has 2 polylines and no test line; one epoch still plots", () => {
  const records: MetricsRecord[] = [{ epoch: 1, loss: 0.5, accuracy: 0.85 }];
  const svg = trainingPlotSvg(records);
  assertWellFormed(svg);
  const lines = polylines(svg);
  assert.deepEqual([...lines.keys()].sort(), ["train accuracy", "train loss"]);
  assert.equal(lines.get("train loss")!.length, 1);
  assert.ok(!svg.includes('class="test"'));
  assert.throws(() => trainingPlotSvg([{ test_loss: 1, test_accuracy: 0.5 }]), RangeError);
});

Deno.test("niceTicks covers the range with 1/2/2.5/5 steps", () => {
  assert.deepEqual(niceTicks(0, 0.7).ticks, [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(0.78, 0.965).ticks, [0.75, 0.8, 0.85, 0.9, 0.95, 1]);
  assert.deepEqual(niceTicks(1, 1).ticks.length > 1, true);
});

Deno.test("writeTrainingPlot writes the SVG of a read JSONL log; recordsFromHistory numbers epochs from 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "svg_plot_test_" });
  try {
    await Deno.writeTextFile(join(dir, "m.jsonl"), LOG);
    await writeTrainingPlot(
      await readMetricsJsonl(join(dir, "m.jsonl")),
      join(dir, "out", "m.svg"),
    );
    assertWellFormed(await Deno.readTextFile(join(dir, "out", "m.svg")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const records = recordsFromHistory(
    { epoch: [0, 1], history: { loss: [0.3, 0.1], accuracy: [0.9, 0.97], val_loss: [0.2, 0.15] } },
    { loss: 0.08, accuracy: 0.975, count: 100 },
  );
  assert.deepEqual(records[1], { epoch: 2, loss: 0.1, accuracy: 0.97, val_loss: 0.15 });
  assert.deepEqual(records[2], { test_loss: 0.08, test_accuracy: 0.975, test_count: 100 });
});
