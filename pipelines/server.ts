/**
 * The prediction service: an HTTP handler (for `Deno.serve`) that answers `POST /predict` with
 * the model's predictions, batching the images of all concurrent requests dynamically (the
 * micro-batching of {@linkcode predictStream}: a batch runs when it holds `maxBatch` images or
 * when its oldest image has waited `maxDelayMs`).
 *
 * Endpoints:
 *
 * - `POST /predict` with
 *   - `image/png`: one image, any PNG (see `image_input.ts`; `?invert=1` for dark-on-light);
 *   - `application/octet-stream`: raw 28x28 bytes (0..255), 784 per image, one or more images;
 *   - `application/json`: `{"pixels": [784 values]}` (one image) or
 *     `{"images": [[784 values], ...]}`, values read with the JSON-lines scale rule.
 *
 *   One image answers `{"label": 7, "probabilities": [...]}`; several answer
 *   `{"predictions": [{"label", "probabilities"}, ...]}` in request order.
 * - `GET /healthz`: `{"status": "ok"}` (503 `draining` once {@linkcode PredictionServer.drain}
 *   has been called).
 * - `GET /metrics`: Prometheus text: requests by path and status code, errors by reason, batch
 *   sizes, request latency, images predicted, queue depth.
 *
 * Errors answer JSON `{"error": "..."}`: 415 for another content type, 400 for a body that does
 * not decode (bad JSON, undecodable PNG), 422 for a decodable body of the wrong size or range,
 * 413 for a body over `maxBody` bytes, 408 for a body not received within `bodyTimeoutMs` (a
 * client that stops sending does not hold its request open), 400 for a body the client broke
 * off, 503 when the queue already holds `maxQueue` images (or while draining), 404/405 for other
 * paths and methods. Nothing a client sends crashes the server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPredictionServer } from "./server.ts";
 * import { mnistDense } from "./models.ts";
 * const service = createPredictionServer(mnistDense({ seed: 1 }), { maxBatch: 8 });
 * const response = await service.handler(
 *   new Request("http://localhost/predict", {
 *     method: "POST",
 *     headers: { "content-type": "application/octet-stream" },
 *     body: new Uint8Array(784),
 *   }),
 * );
 * const body = await response.json();
 * assert(response.status === 200 && body.probabilities.length === 10);
 * await service.drain();
 * ```
 *
 * @module
 */

import { Subject, type Subscription } from "rxjs";
import { IdxFormatError } from "./idx.ts";
import { MNIST_PIXELS, pixelsFromJson, pngToMnist } from "./image_input.ts";
import {
  type Counter,
  type Gauge,
  type Histogram,
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
} from "./metrics_registry.ts";
import { microBatch, predictBatch, type Prediction } from "./predict_stream.ts";
import type { Sequential } from "./sequential.ts";

/** Options of {@linkcode createPredictionServer}. */
export interface PredictionServerOptions {
  /** Largest batch (default 64; 1 turns dynamic batching off). */
  maxBatch?: number;
  /** Longest wait of a batch's oldest image, in ms (default 2). */
  maxDelayMs?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBody?: number;
  /** Most images queued or running at once; more are refused with 503 (default 1024). */
  maxQueue?: number;
  /** Longest time to receive a request's body, in ms; slower bodies get 408 (default 10 s). */
  bodyTimeoutMs?: number;
  /** Where the metrics go (default: a new registry). */
  registry?: MetricsRegistry;
}

/** What {@linkcode createPredictionServer} returns. */
export interface PredictionServer {
  /** The request handler, for `Deno.serve(handler)`. */
  readonly handler: (request: Request) => Promise<Response>;
  /**
   * Stops taking new predictions (503), waits for the requests in flight to be answered, then
   * stops the batcher. Resolves when nothing is left; calling it again returns the same promise.
   */
  drain(): Promise<void>;
  /** The metrics `/metrics` renders. */
  readonly metrics: MetricsRegistry;
  /** Images queued or in a running batch. */
  readonly queued: number;
}

/** Default `maxBody`: 1 MiB. */
export const DEFAULT_MAX_BODY = 1 << 20;
/** Default `maxQueue`. */
export const DEFAULT_MAX_QUEUE = 1024;
/** Default `bodyTimeoutMs`: 10 s. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

/** A request the service refuses, with its status and a metrics reason. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** The media type of a Content-Type header, lowercased, without parameters. */
function mediaType(header: string | null): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * A body declared larger than this many times the limit is not drained after a refusal (see
 * {@linkcode readBody}).
 */
const DRAIN_FACTOR = 4;

/**
 * Reads the body, refusing (413) more than `limit` bytes without buffering them, and (408) a body
 * not complete within `timeoutMs`; a body the client breaks off is a 400.
 *
 * What happens to the unread rest: Deno.serve drains a body the handler did not take, or
 * cancelled, to its end after the response, and graceful shutdown waits for that. That is right
 * for an ordinary oversized body (the connection is then reused), but a client declaring 10 GB
 * had 700 MB read from it in 1.5 s, and a client that stops sending would hold the connection
 * and shutdown forever. So a body declared over {@linkcode DRAIN_FACTOR} times the limit, and a
 * body that timed out, are left locked and unread instead: TCP backpressure holds the client, and
 * the connection closes when it gives up, or on shutdown. (A chunked body found over the limit is
 * cancelled and drained as usual: its size is unknown, and its sender is sending.)
 */
async function readBody(request: Request, limit: number, timeoutMs: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(413, `request body over the limit of ${limit} bytes`, "payload_too_large");
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    if (Number(declared) > DRAIN_FACTOR * limit) request.body?.getReader();
    throw tooLarge();
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() =>
      reject(
        new HttpError(
          408,
          `request body not received within ${timeoutMs} ms (${total} bytes arrived)`,
          "body_timeout",
          { connection: "close" },
        ),
      ), timeoutMs);
  });
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), timedOut]);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw new HttpError(
          400,
          `the request body could not be read: ${(e as Error).message}`,
          "incomplete_body",
        );
      }
      const { value, done } = chunk;
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      parts.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The images of a request body, and whether the answer is a single prediction. */
function decodeBody(
  type: string,
  body: Uint8Array,
  invert: boolean,
): { images: Float32Array[]; single: boolean } {
  switch (type) {
    case "image/png":
      try {
        return { images: [pngToMnist(body, "request body", { invert })], single: true };
      } catch (e) {
        throw new HttpError(400, (e as Error).message, "bad_image");
      }
    case "application/octet-stream": {
      if (body.length === 0 || body.length % MNIST_PIXELS !== 0) {
        throw new HttpError(
          422,
          `expected a body of ${MNIST_PIXELS} bytes per image (28x28, 0..255), found ${body.length} bytes`,
          "wrong_size",
        );
      }
      const images: Float32Array[] = [];
      for (let at = 0; at < body.length; at += MNIST_PIXELS) {
        const pixels = new Float32Array(MNIST_PIXELS);
        for (let i = 0; i < MNIST_PIXELS; i++) {
          const v = body[at + i]! / 255;
          pixels[i] = invert ? 1 - v : v;
        }
        images.push(pixels);
      }
      return { images, single: body.length === MNIST_PIXELS };
    }
    default: { // application/json
      let value: unknown;
      try {
        value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
      } catch (e) {
        throw new HttpError(400, `expected a JSON body: ${(e as Error).message}`, "bad_json");
      }
      const record = value !== null && typeof value === "object" && !Array.isArray(value)
        ? value as Record<string, unknown>
        : null;
      const decode = (v: unknown, where: string) => {
        try {
          return pixelsFromJson(v, where, { invert });
        } catch (e) {
          throw new HttpError(422, (e as Error).message, "wrong_size");
        }
      };
      if (record !== null && "pixels" in record) {
        return { images: [decode(record.pixels, "pixels")], single: true };
      }
      if (record !== null && Array.isArray(record.images)) {
        if (record.images.length === 0) {
          throw new HttpError(
            422,
            "expected at least one image in images, found none",
            "wrong_size",
          );
        }
        return {
          images: record.images.map((v, i) => decode(v, `images[${i}]`)),
          single: false,
        };
      }
      throw new HttpError(
        400,
        'expected a JSON object {"pixels": [784 values]} or {"images": [[784 values], ...]}',
        "bad_json",
      );
    }
  }
}

const SUPPORTED_TYPES = ["image/png", "application/octet-stream", "application/json"];

interface Job {
  pixels: Float32Array;
  resolve: (p: Prediction) => void;
  reject: (e: unknown) => void;
}

interface ServiceMetrics {
  requests: Counter;
  errors: Counter;
  batchSize: Histogram;
  batchSeconds: Histogram;
  latency: Histogram;
  images: Counter;
  queueDepth: Gauge;
}

function registerMetrics(registry: MetricsRegistry, maxBatch: number): ServiceMetrics {
  const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, maxBatch];
  const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    requests: registry.counter(
      "http_requests_total",
      "HTTP requests answered, by path and status code.",
      ["path", "code"],
    ),
    errors: registry.counter(
      "predict_errors_total",
      "Prediction requests refused or failed, by reason.",
      ["reason"],
    ),
    batchSize: registry.histogram(
      "predict_batch_size",
      "Images per forward pass.",
      sizes.filter((s) => s <= Math.max(maxBatch, 1)),
    ),
    batchSeconds: registry.histogram(
      "predict_batch_duration_seconds",
      "Wall time of one batched forward pass.",
      seconds,
    ),
    latency: registry.histogram(
      "predict_request_duration_seconds",
      "Latency of POST /predict, from request to response.",
      seconds,
    ),
    images: registry.counter("predict_images_total", "Images predicted."),
    queueDepth: registry.gauge("predict_queue_depth", "Images queued or in a running batch."),
  };
}

/**
 * Creates the service for `model` (see the module doc). The model must take 28x28x1 images.
 */
export function createPredictionServer(
  model: Sequential,
  options: PredictionServerOptions = {},
): PredictionServer {
  const maxBatch = options.maxBatch ?? 64;
  const maxDelayMs = options.maxDelayMs ?? 2;
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  for (
    const [name, v] of [
      ["maxBody", maxBody],
      ["maxQueue", maxQueue],
      ["bodyTimeoutMs", bodyTimeoutMs],
    ] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${name} must be a positive integer: current value is ${v}`);
    }
  }
  const inputSize = model.inputShape.reduce((a, b) => a * b, 1);
  if (inputSize !== MNIST_PIXELS) {
    throw new TypeError(
      `Cannot serve model "${model.name}": expected 28x28 inputs (784 values), its input shape is [${model.inputShape}]`,
    );
  }
  model.build();
  const registry = options.registry ?? new MetricsRegistry();
  const m = registerMetrics(registry, maxBatch);

  let queued = 0;
  let active = 0; // /predict requests being handled
  let draining: Promise<void> | null = null;
  let idle: (() => void) | null = null;

  const jobs = new Subject<Job>();
  const subscription: Subscription = jobs.pipe(microBatch<Job>(maxDelayMs, maxBatch)).subscribe(
    (batch) => {
      const t0 = performance.now();
      let predictions: Prediction[] | null = null;
      let failure: unknown = null;
      try {
        predictions = predictBatch(model, batch.map((j) => j.pixels));
      } catch (e) {
        failure = e;
      }
      m.batchSize.observe(batch.length);
      m.batchSeconds.observe((performance.now() - t0) / 1000);
      queued -= batch.length;
      m.queueDepth.set(queued);
      batch.forEach((job, i) => {
        if (predictions !== null) job.resolve(predictions[i]!);
        else job.reject(failure);
      });
      if (predictions !== null) m.images.inc({}, batch.length);
    },
  );

  const enqueue = (pixels: Float32Array) =>
    new Promise<Prediction>((resolve, reject) => jobs.next({ pixels, resolve, reject }));

  async function predict(request: Request, url: URL): Promise<Response> {
    if (draining !== null) {
      throw new HttpError(503, "the server is shutting down", "draining");
    }
    const type = mediaType(request.headers.get("content-type"));
    if (!SUPPORTED_TYPES.includes(type)) {
      throw new HttpError(
        415,
        `unsupported Content-Type ${
          JSON.stringify(type)
        }: send image/png, application/octet-stream (784 bytes per image) or application/json`,
        "unsupported_media_type",
      );
    }
    const body = await readBody(request, maxBody, bodyTimeoutMs);
    const invert = ["1", "true", "yes"].includes(url.searchParams.get("invert") ?? "");
    const { images, single } = decodeBody(type, body, invert);
    if (images.length > maxQueue) {
      throw new HttpError(
        413,
        `a request may hold at most ${maxQueue} images, found ${images.length}`,
        "too_many_images",
      );
    }
    if (queued + images.length > maxQueue) {
      throw new HttpError(
        503,
        `queue full (${queued} images waiting, limit ${maxQueue}): retry later`,
        "queue_full",
        { "retry-after": "1" },
      );
    }
    queued += images.length;
    m.queueDepth.set(queued);
    const predictions = await Promise.all(images.map(enqueue));
    const plain = predictions.map((p) => ({ label: p.label, probabilities: p.probabilities }));
    return jsonResponse(200, single ? plain[0] : { predictions: plain });
  }

  async function route(request: Request, url: URL): Promise<Response> {
    switch (url.pathname) {
      case "/predict":
        if (request.method !== "POST") {
          throw new HttpError(405, "use POST /predict", "method_not_allowed", { allow: "POST" });
        }
        return await predict(request, url);
      case "/healthz":
        if (request.method !== "GET" && request.method !== "HEAD") {
          throw new HttpError(405, "use GET /healthz", "method_not_allowed", { allow: "GET" });
        }
        return draining === null
          ? jsonResponse(200, { status: "ok", queued })
          : jsonResponse(503, { status: "draining", queued });
      case "/metrics":
        if (request.method !== "GET" && request.method !== "HEAD") {
          throw new HttpError(405, "use GET /metrics", "method_not_allowed", { allow: "GET" });
        }
        return new Response(registry.render(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        });
      default:
        throw new HttpError(404, `no such endpoint: ${url.pathname}`, "not_found");
    }
  }

  async function handler(request: Request): Promise<Response> {
    const t0 = performance.now();
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      url = new URL("http://invalid/");
    }
    const isPredict = url.pathname === "/predict";
    if (isPredict) active++;
    let response: Response;
    try {
      response = await route(request, url);
    } catch (e) {
      if (e instanceof HttpError) {
        response = jsonResponse(e.status, { error: e.message }, e.headers);
        if (isPredict) m.errors.inc({ reason: e.reason });
      } else {
        const message = e instanceof IdxFormatError || e instanceof TypeError
          ? (e as Error).message
          : "internal error";
        console.error("prediction server:", e);
        response = jsonResponse(500, { error: message });
        m.errors.inc({ reason: "internal" });
      }
    } finally {
      if (isPredict) {
        active--;
        if (active === 0 && idle !== null) idle();
      }
    }
    const path = ["/predict", "/healthz", "/metrics"].includes(url.pathname)
      ? url.pathname
      : "other";
    m.requests.inc({ path, code: String(response.status) });
    if (isPredict) m.latency.observe((performance.now() - t0) / 1000);
    return response;
  }

  function drain(): Promise<void> {
    draining ??= (async () => {
      while (active > 0) await new Promise<void>((resolve) => (idle = resolve));
      idle = null;
      jobs.complete();
      subscription.unsubscribe();
    })();
    return draining;
  }

  return {
    handler,
    drain,
    metrics: registry,
    get queued() {
      return queued;
    },
  };
}
