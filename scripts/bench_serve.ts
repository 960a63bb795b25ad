// Load generator for the prediction service (`deno task serve`): starts the server in a
// subprocess per batching setting, drives it over loopback with 1, 16 and 64 concurrent clients
// (each sends one 784-byte image, waits for the answer, sends the next), and prints throughput,
// latency percentiles and the mean batch size the server saw, as a Markdown table.
//
//   deno run -A scripts/bench_serve.ts [--requests 2000] [--seconds 15] [--clients 1,16,64]
//                                      [--max-batch 1,64] [--max-delay-ms 2] [--workers N]
//                                      [--backend wasm|cpu] [--model DIR]
//
// Every run is bounded by a request count and a time limit. Without --model, the lecture's CNN
// (untrained, seed 1) is saved to a temporary directory: the cost of a forward pass does not
// depend on the weights.

import { parseArgs } from "node:util";
import { choiceFlag, intFlag, numberFlag, runCli } from "../pipelines/cli_flags.ts";
import { mnistCnn } from "../pipelines/models.ts";
import { saveModel } from "../pipelines/save_model.ts";

const SERVE = new URL("./serve.ts", import.meta.url).pathname;

function intList(flag: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  return value.split(",").map((v) => intFlag(flag, v.trim(), 1));
}

interface Server {
  child: Deno.ChildProcess;
  base: string;
}

async function startServer(args: string[]): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVE, "--port", "0", ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before listening: ${text}`);
    text += value;
    const port = text.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/)?.[1];
    if (port !== undefined) {
      // keep draining its stdout so it never blocks on a full pipe
      (async () => {
        while (!(await reader.read()).done);
      })();
      return { child, base: `http://127.0.0.1:${port}` };
    }
  }
}

async function batchTotals(base: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const count = Number(text.match(/^predict_batch_size_count (\S+)$/m)?.[1] ?? 0);
  const sum = Number(text.match(/^predict_batch_size_sum (\S+)$/m)?.[1] ?? 0);
  return { count, sum };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Result {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  meanBatch: number;
  failures: number;
}

/** `clients` loops, each one request at a time, until `total` requests or `seconds` elapse. */
async function load(
  base: string,
  clients: number,
  total: number,
  seconds: number,
  images: Uint8Array<ArrayBuffer>[],
): Promise<Result> {
  const before = await batchTotals(base);
  const latencies: number[] = [];
  let started = 0, failures = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (started < total && performance.now() < deadline) {
      const body = images[started++ % images.length]!;
      const s = performance.now();
      const r = await fetch(`${base}/predict`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body,
      });
      await r.arrayBuffer();
      if (r.status === 200) latencies.push(performance.now() - s);
      else failures++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const after = await batchTotals(base);
  latencies.sort((a, b) => a - b);
  const batches = after.count - before.count;
  return {
    requests: latencies.length,
    seconds: elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    meanBatch: batches > 0 ? (after.sum - before.sum) / batches : NaN,
    failures,
  };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      requests: { type: "string" },
      seconds: { type: "string" },
      clients: { type: "string" },
      "max-batch": { type: "string" },
      "max-delay-ms": { type: "string" },
      workers: { type: "string" },
      backend: { type: "string" },
      model: { type: "string" },
    },
  });
  const requests = intFlag("requests", values.requests, 2000);
  const seconds = numberFlag("seconds", values.seconds, 0.1, 3600) ?? 15;
  const clientCounts = intList("clients", values.clients, [1, 16, 64]);
  const maxBatches = intList("max-batch", values["max-batch"], [1, 64]);
  const maxDelayMs = numberFlag("max-delay-ms", values["max-delay-ms"], 0, 60_000) ?? 2;
  const workers = intFlag("workers", values.workers, navigator.hardwareConcurrency ?? 1);
  const backend = choiceFlag("backend", values.backend, ["wasm", "cpu"] as const, "wasm");

  let modelDir = values.model;
  let tempDir: string | null = null;
  if (modelDir === undefined) {
    tempDir = await Deno.makeTempDir({ prefix: "bench_serve_" });
    await saveModel(mnistCnn({ seed: 1 }), tempDir);
    modelDir = tempDir;
  }
  const images = Array.from(
    { length: 256 },
    (_, k) => Uint8Array.from({ length: 784 }, (_, i) => (i * 37 + k * 101) % 256),
  );

  console.log(
    `# ${requests} requests (or ${seconds} s) per row; backend ${backend}, ${workers} workers, ` +
      `max delay ${maxDelayMs} ms; ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`,
  );
  console.log("");
  console.log("| max batch | clients | requests | img/s | p50 ms | p99 ms | mean batch |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  try {
    for (const maxBatch of maxBatches) {
      const server = await startServer([
        "--model",
        modelDir,
        "--max-batch",
        String(maxBatch),
        "--max-delay-ms",
        String(maxDelayMs),
        "--backend",
        backend,
        "--workers",
        String(workers),
      ]);
      try {
        await load(server.base, 4, 100, 10, images); // warm-up: JIT, buffers, connections
        for (const clients of clientCounts) {
          const r = await load(server.base, clients, requests, seconds, images);
          const rate = r.requests / r.seconds;
          console.log(
            `| ${maxBatch} | ${clients} | ${r.requests}${
              r.failures > 0 ? ` (+${r.failures} failed)` : ""
            } | ` +
              `${rate.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${
                r.meanBatch.toFixed(1)
              } |`,
          );
        }
      } finally {
        server.child.kill("SIGTERM");
        await server.child.status;
      }
    }
  } finally {
    if (tempDir !== null) await Deno.remove(tempDir, { recursive: true });
  }
  return 0;
}

await runCli("bench-serve", main);
