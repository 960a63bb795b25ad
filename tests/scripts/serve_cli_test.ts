// `deno task serve` end to end: the server runs in a subprocess on a free loopback port; the test
// talks HTTP to it, then stops it with a signal and checks the requests in flight were answered.

import assert from "node:assert/strict";
import { join } from "node:path";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { saveModel } from "../../pipelines/save_model.ts";
import { Sequential } from "../../pipelines/sequential.ts";

const SCRIPT = new URL("../../scripts/serve.ts", import.meta.url).pathname;

function smallCnn(): Sequential {
  const model = new Sequential({ seed: 1 });
  model.add(new Conv2D({ filters: 4, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}

function image(seed: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: 784 }, (_, i) => (i * 37 + seed * 101) % 256);
}

function expected(model: Sequential, raw: Uint8Array): number[] {
  const x = Float32Array.from(raw, (v) => v / 255);
  return Array.from(model.predict({ shape: [1, 28, 28, 1], data: x }).data);
}

interface Server {
  child: Deno.ChildProcess;
  base: string;
  /** Everything the server printed, once it has exited. */
  output: Promise<string>;
}

/** Starts the server and waits for its "listening on" line. */
async function start(args: string[]): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, "--port", "0", "--backend", "cpu", ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let port: string | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before listening: ${text}`);
    text += value;
    port = text.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/)?.[1];
  }
  const output = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { child, base: `http://127.0.0.1:${port}`, output };
}

function postRaw(base: string, body: Uint8Array<ArrayBuffer>): Promise<Response> {
  return fetch(`${base}/predict`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body,
  });
}

Deno.test("deno task serve answers /predict, /healthz and /metrics over loopback; SIGTERM drains the requests in flight and exits 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serve_cli_test_" });
  try {
    const model = smallCnn();
    await saveModel(model, dir);
    // a long batch delay keeps requests in flight when the signal arrives
    const server = await start(["--model", dir, "--max-delay-ms", "1000", "--max-batch", "8"]);
    const health = await fetch(`${server.base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");

    const full = await Promise.all(
      Array.from({ length: 8 }, (_, i) => postRaw(server.base, image(i))),
    );
    for (const [i, r] of full.entries()) {
      assert.equal(r.status, 200);
      assert.deepEqual((await r.json()).probabilities, expected(model, image(i)));
    }
    const bad = await fetch(`${server.base}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"pixels": [1, 2]}',
    });
    assert.equal(bad.status, 422);
    await bad.body?.cancel();
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    assert.match(metrics, /predict_batch_size_bucket\{le="8"\} 1\n/);
    assert.match(metrics, /http_requests_total\{path="\/predict",code="422"\} 1\n/);

    const inFlight = [20, 21, 22].map((s) => postRaw(server.base, image(s)));
    await new Promise((r) => setTimeout(r, 300)); // received, waiting for the 1 s batch timer
    server.child.kill("SIGTERM");
    const answers = await Promise.all(inFlight);
    for (const [k, r] of answers.entries()) {
      assert.equal(r.status, 200);
      assert.deepEqual((await r.json()).probabilities, expected(model, image(20 + k)));
    }
    const status = await server.child.status;
    assert.equal(status.code, 0);
    const output = await server.output;
    assert.match(output, /draining/);
    assert.match(output, /stopped/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task serve exits 0 on SIGINT when idle", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serve_cli_test_" });
  try {
    await saveModel(smallCnn(), dir);
    const server = await start(["--model", dir]);
    const health = await fetch(`${server.base}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    server.child.kill("SIGINT");
    assert.equal((await server.child.status).code, 0);
    await server.output;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task serve exits 1 when the model does not load and 2 on bad flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serve_cli_test_" });
  try {
    const run = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SCRIPT, "--backend", "cpu", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const missing = await run(["--model", join(dir, "none"), "--port", "0"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot load the model/);
    for (
      const args of [
        ["--port", "0"],
        ["--model", dir, "--port", "70000"],
        ["--model", dir, "--max-queue", "0"],
        ["--model", dir, "--max-body", "-5"],
        ["--model", dir, "--verbose"],
      ]
    ) {
      const bad = await run(args);
      assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
      assert.match(bad.stderr, /deno task serve --help/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
