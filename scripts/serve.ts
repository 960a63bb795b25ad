// `deno task serve`: the prediction service over HTTP. Thin: parses flags, loads the model and
// serves createPredictionServer's handler (pipelines/server.ts) with Deno.serve. SIGINT/SIGTERM
// stop taking requests, answer the ones in flight, then exit 0.

import { backendFlags, createBackend } from "../pipelines/cli_backend.ts";
import type { Backend } from "../engine/backend.ts";
import { intFlag, numberFlag, parseFlags, runCli, UsageError } from "../pipelines/cli_flags.ts";
import { loadModel } from "../pipelines/load_model.ts";
import {
  createPredictionServer,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY,
  DEFAULT_MAX_QUEUE,
} from "../pipelines/server.ts";

const USAGE = `Usage: deno task serve --model DIR [flags]

Serves a model saved in the TF.js Layers format over HTTP:
  POST /predict   image/png | application/octet-stream (784 bytes per image) |
                  application/json {"pixels": [...]} or {"images": [[...], ...]}
                  (?invert=1 for dark digits on a light background)
  GET  /healthz   {"status": "ok"}
  GET  /metrics   Prometheus text format
Requests from all clients are batched together (up to --max-batch images, waiting at most
--max-delay-ms for a batch to fill).

Flags:
  --model DIR          directory of model.json (required)
  --port N             TCP port (default 8080; 0 picks a free one)
  --host ADDR          address to listen on (default 127.0.0.1)
  --max-batch N        images per forward pass (default 64; 1 = no batching)
  --max-delay-ms X     longest wait for a batch to fill (default 2)
  --max-body BYTES     largest request body (default ${DEFAULT_MAX_BODY})
  --max-queue N        images queued at most; beyond, 503 (default ${DEFAULT_MAX_QUEUE})
  --body-timeout-ms N  longest time to receive a request body; beyond, 408 (default ${DEFAULT_BODY_TIMEOUT_MS})
  --backend wasm|cpu   WebAssembly SIMD kernels on a worker pool (default), or plain TypeScript
  --workers N          threads for the wasm backend (default: number of cores)
  --help               this text
`;

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      model: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "max-batch": { type: "string" },
      "max-delay-ms": { type: "string" },
      "max-body": { type: "string" },
      "max-queue": { type: "string" },
      "body-timeout-ms": { type: "string" },
      backend: { type: "string" },
      workers: { type: "string" },
    },
    USAGE,
  );
  if (values === null) return 0;
  if (values.model === undefined) throw new UsageError("--model DIR is required");
  const port = intFlag("port", values.port, 8080, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535: received "${port}"`);
  const hostname = values.host ?? "127.0.0.1";
  const options = {
    maxBatch: intFlag("max-batch", values["max-batch"], 64),
    maxDelayMs: numberFlag("max-delay-ms", values["max-delay-ms"], 0, 60_000) ?? 2,
    maxBody: intFlag("max-body", values["max-body"], DEFAULT_MAX_BODY),
    maxQueue: intFlag("max-queue", values["max-queue"], DEFAULT_MAX_QUEUE),
    bodyTimeoutMs: intFlag("body-timeout-ms", values["body-timeout-ms"], DEFAULT_BODY_TIMEOUT_MS),
  };
  const backendChoice = backendFlags(values);

  const backend: Backend = await createBackend(backendChoice);
  let model;
  try {
    model = await loadModel(values.model, { backend });
  } catch (e) {
    console.error(`error: cannot load the model from ${values.model}: ${(e as Error).message}`);
    backend.dispose();
    return 1;
  }
  const service = createPredictionServer(model, options);
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port,
      hostname,
      onListen: ({ hostname, port }) => {
        console.log(
          `listening on http://${hostname}:${port} (backend ${backend.name}, max batch ${options.maxBatch})`,
        );
      },
    }, service.handler);
  } catch (e) {
    console.error(`error: cannot listen on ${hostname}:${port}: ${(e as Error).message}`);
    await service.drain();
    backend.dispose();
    return 1;
  }

  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      console.log("draining: answering the requests in flight");
      await Promise.all([service.drain(), server.shutdown()]);
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await stopped;
  backend.dispose();
  console.log("stopped");
  return 0;
}

await runCli("serve", main);
