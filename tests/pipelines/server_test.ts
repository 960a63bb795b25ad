import assert from "node:assert/strict";
import { encode } from "fast-png";
import { Random } from "../../engine/random.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { mnistCnn } from "../../pipelines/models.ts";
import { createPredictionServer, type PredictionServerOptions } from "../../pipelines/server.ts";
import { Sequential } from "../../pipelines/sequential.ts";

function smallCnn(): Sequential {
  const model = new Sequential({ seed: 1 });
  model.add(new Conv2D({ filters: 4, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}

/** 784 random bytes from a seed. */
function rawImage(seed: number): Uint8Array<ArrayBuffer> {
  const r = new Random(seed);
  return Uint8Array.from({ length: 784 }, () => Math.floor(r.next() * 256));
}

/** model.predict of raw bytes, as the numbers JSON carries. */
function expected(
  model: Sequential,
  bytes: Uint8Array,
): { label: number; probabilities: number[] } {
  const x = Float32Array.from(bytes, (b) => b / 255);
  const probabilities = Array.from(model.predict({ shape: [1, 28, 28, 1], data: x }).data);
  return { label: probabilities.indexOf(Math.max(...probabilities)), probabilities };
}

function post(body: BodyInit | Uint8Array, type: string | null, path = "/predict"): Request {
  const headers: Record<string, string> = type === null ? {} : { "content-type": type };
  return new Request(`http://localhost${path}`, {
    method: "POST",
    headers,
    body: body as BodyInit,
  });
}

async function withService(
  model: Sequential,
  options: PredictionServerOptions,
  fn: (s: ReturnType<typeof createPredictionServer>) => Promise<void>,
): Promise<void> {
  const service = createPredictionServer(model, options);
  try {
    await fn(service);
  } finally {
    await service.drain();
  }
}

Deno.test("POST /predict answers octet-stream, JSON pixels, JSON images and PNG bodies with model.predict's values", async () => {
  const model = smallCnn();
  await withService(model, { maxDelayMs: 1 }, async ({ handler }) => {
    const a = rawImage(1), b = rawImage(2);
    const raw = await handler(post(a, "application/octet-stream"));
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get("content-type"), "application/json; charset=utf-8");
    assert.deepEqual(await raw.json(), expected(model, a));

    const two = new Uint8Array(784 * 2);
    two.set(a);
    two.set(b, 784);
    const pair = await handler(post(two, "application/octet-stream"));
    assert.deepEqual(await pair.json(), { predictions: [expected(model, a), expected(model, b)] });

    const json = await handler(
      post(JSON.stringify({ pixels: [...b] }), "application/json; charset=utf-8"),
    );
    assert.deepEqual(await json.json(), expected(model, b));

    const images = await handler(
      post(JSON.stringify({ images: [[...b], [...a]] }), "application/json"),
    );
    assert.deepEqual(await images.json(), {
      predictions: [expected(model, b), expected(model, a)],
    });

    const png = encode({ width: 28, height: 28, data: a, channels: 1, depth: 8 });
    const fromPng = await handler(post(png, "image/png"));
    assert.deepEqual(await fromPng.json(), expected(model, a));

    // ?invert=1: dark-on-light input
    const inverted = Uint8Array.from(a, (v) => 255 - v);
    const inv = await handler(post(inverted, "application/octet-stream", "/predict?invert=1"));
    const want = expected(model, a);
    const got = await inv.json();
    assert.equal(got.label, want.label);
    got.probabilities.forEach((p: number, i: number) =>
      assert.ok(Math.abs(p - want.probabilities[i]!) < 1e-6)
    );
  });
});

Deno.test("bad requests get 4xx JSON errors: 415 type, 400 bad JSON/PNG, 422 wrong size, 413 body, 404, 405", async () => {
  await withService(smallCnn(), { maxBody: 4096 }, async ({ handler, metrics }) => {
    const cases: [Request, number, RegExp][] = [
      [post("x", "text/plain"), 415, /unsupported Content-Type "text\/plain"/],
      [post(new Uint8Array(784), null), 415, /unsupported Content-Type ""/],
      [post("{nope", "application/json"), 400, /expected a JSON body/],
      [
        post(JSON.stringify({ pics: [] }), "application/json"),
        400,
        /expected a JSON object \{"pixels"/,
      ],
      [post(new Uint8Array(100), "image/png"), 400, /request body: expected the PNG signature/],
      [
        post(new Uint8Array(783), "application/octet-stream"),
        422,
        /expected a body of 784 bytes per image .* found 783 bytes/,
      ],
      [
        post(JSON.stringify({ pixels: [1, 2, 3] }), "application/json"),
        422,
        /pixels: expected 784 pixel values, found 3/,
      ],
      [post(JSON.stringify({ images: [] }), "application/json"), 422, /at least one image/],
      [post(new Uint8Array(5000), "application/octet-stream"), 413, /over the limit of 4096 bytes/],
      [new Request("http://localhost/predict"), 405, /use POST \/predict/],
      [new Request("http://localhost/nothing"), 404, /no such endpoint: \/nothing/],
    ];
    for (const [request, status, message] of cases) {
      const response = await handler(request);
      assert.equal(response.status, status, `${request.method} ${request.url}`);
      const body = await response.json();
      assert.match(body.error, message);
    }
    // a chunked body without Content-Length is cut off at the limit too
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(1000));
      },
    });
    const chunked = await handler(post(stream, "application/octet-stream"));
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
    const text = metrics.render();
    assert.match(text, /predict_errors_total\{reason="unsupported_media_type"\} 2/);
    assert.match(text, /predict_errors_total\{reason="payload_too_large"\} 2/);
    assert.match(text, /http_requests_total\{path="\/predict",code="422"\} 3/);
    assert.match(text, /http_requests_total\{path="other",code="404"\} 1/);
  });
});

Deno.test("concurrent requests are batched together: 8 requests with maxBatch 8 run as one forward pass", async () => {
  const model = smallCnn();
  await withService(model, { maxBatch: 8, maxDelayMs: 2000 }, async ({ handler, metrics }) => {
    const t0 = performance.now();
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => handler(post(rawImage(i), "application/octet-stream"))),
    );
    // a full batch does not wait for the 2 s timer
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
    for (const [i, r] of responses.entries()) {
      assert.deepEqual(await r.json(), expected(model, rawImage(i)));
    }
    const text = metrics.render();
    assert.match(text, /predict_batch_size_count 1\n/);
    assert.match(text, /predict_batch_size_sum 8\n/);
    assert.match(text, /predict_batch_size_bucket\{le="4"\} 0\n/);
    assert.match(text, /predict_batch_size_bucket\{le="8"\} 1\n/);
    assert.match(text, /predict_images_total 8\n/);
    assert.match(text, /predict_request_duration_seconds_count 8\n/);
  });
});

Deno.test("a full queue answers 503 with Retry-After instead of growing: maxQueue 4", async () => {
  await withService(
    smallCnn(),
    { maxQueue: 4, maxDelayMs: 300, maxBatch: 64 },
    async ({ handler }) => {
      const first = handler(post(new Uint8Array(784 * 3), "application/octet-stream"));
      await new Promise((r) => setTimeout(r, 5)); // the first request is queued, its batch waiting
      const full = await handler(post(new Uint8Array(784 * 2), "application/octet-stream"));
      assert.equal(full.status, 503);
      assert.equal(full.headers.get("retry-after"), "1");
      assert.match((await full.json()).error, /queue full \(3 images waiting, limit 4\)/);
      const tooMany = await handler(post(new Uint8Array(784 * 5), "application/octet-stream"));
      assert.equal(tooMany.status, 413);
      await tooMany.body?.cancel();
      assert.equal((await first).status, 200);
      // room again once the batch ran
      assert.equal(
        (await handler(post(new Uint8Array(784 * 4), "application/octet-stream"))).status,
        200,
      );
    },
  );
});

Deno.test("GET /healthz and /metrics; drain() answers the requests in flight, then 503s", async () => {
  const model = smallCnn();
  const service = createPredictionServer(model, { maxDelayMs: 300 });
  const health = await service.handler(new Request("http://localhost/healthz"));
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: "ok", queued: 0 });
  const metrics = await service.handler(new Request("http://localhost/metrics"));
  assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await metrics.text();
  for (const name of ["predict_batch_size", "predict_request_duration_seconds"]) {
    assert.match(text, new RegExp(`# TYPE ${name} histogram`));
  }
  assert.match(
    text,
    /# TYPE http_requests_total counter\nhttp_requests_total\{path="\/healthz",code="200"\} 1/,
  );

  const inFlight = service.handler(post(rawImage(3), "application/octet-stream"));
  await new Promise((r) => setTimeout(r, 5));
  const drained = service.drain();
  const late = await service.handler(post(rawImage(4), "application/octet-stream"));
  assert.equal(late.status, 503);
  assert.match((await late.json()).error, /shutting down/);
  const answered = await inFlight;
  assert.equal(answered.status, 200);
  assert.deepEqual(await answered.json(), expected(model, rawImage(3)));
  await drained;
  assert.equal((await service.handler(new Request("http://localhost/healthz"))).status, 503);
});

Deno.test("over loopback: 200 concurrent clients get model.predict's answers, bad requests get 4xx, /healthz stays 200", async () => {
  const model = mnistCnn({ seed: 1 });
  const service = createPredictionServer(model, { maxBatch: 64, maxDelayMs: 2 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    service.handler,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const images = Array.from({ length: 200 }, (_, i) => rawImage(100 + i));
    // expected values from one batched model.predict (the rows do not depend on the batch)
    const x = new Float32Array(200 * 784);
    images.forEach((im, i) => x.set(Float32Array.from(im, (b) => b / 255), i * 784));
    const all = model.predict({ shape: [200, 28, 28, 1], data: x }).data;
    const answers = await Promise.all(images.map(async (im, i) => {
      const asJson = i % 2 === 0;
      const r = await fetch(`${base}/predict`, {
        method: "POST",
        headers: { "content-type": asJson ? "application/json" : "application/octet-stream" },
        body: asJson ? JSON.stringify({ pixels: [...im] }) : im,
      });
      return { status: r.status, body: await r.json() };
    }));
    answers.forEach(({ status, body }, i) => {
      assert.equal(status, 200);
      assert.deepEqual(
        body.probabilities,
        Array.from(all.subarray(i * 10, i * 10 + 10)),
        `image ${i}`,
      );
    });

    const bad = await Promise.all([
      fetch(`${base}/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: "garbage",
      }),
      fetch(`${base}/predict`, {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: "1,2",
      }),
      fetch(`${base}/predict`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(10),
      }),
      fetch(`${base}/predict`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(2 << 20),
      }),
    ]);
    assert.deepEqual(bad.map((r) => r.status), [400, 415, 422, 413]);
    for (const r of bad) assert.equal(typeof (await r.json()).error, "string");

    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /http_requests_total\{path="\/predict",code="200"\} 200\n/);
    assert.match(metrics, /predict_images_total 200\n/);
    // batching happened: fewer forward passes than requests
    const batches = Number(metrics.match(/predict_batch_size_count (\d+)/)![1]);
    assert.ok(batches < 200, `${batches} batches for 200 requests`);
  } finally {
    await service.drain();
    await server.shutdown();
  }
});
