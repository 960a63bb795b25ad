import { from } from "rxjs";
import { createWasmBackend } from "./engine/wasm/wasm_backend.ts";
import { mnistCnn } from "./pipelines/models.ts";
import { train } from "./pipelines/train.ts";
const workers = Number(Deno.args[0] ?? 1), steps = Number(Deno.args[1] ?? 60);
const be = await createWasmBackend({ workers });
const m = mnistCnn({ seed: 1, backend: be });
m.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy", metrics: ["accuracy"] });
m.build();
const n = 64, x = new Float32Array(n * 784).map((_, i) => (Math.sin(i) > 0.3 ? Math.abs(Math.cos(i)) : 0));
const y = new Float32Array(n * 10); for (let i = 0; i < n; i++) y[i * 10 + (i % 10)] = 1;
const batch = { x: { shape: [n, 28, 28, 1], data: x }, y: { shape: [n, 10], data: y } };
const ts: number[] = [];
for (let s = 0; s < steps; s++) { const a = performance.now(); from([batch]).pipe(train(m)).subscribe(); ts.push(performance.now() - a); }
ts.sort((a, b) => a - b);
console.log(`x${workers} step best ${ts[0]!.toFixed(1)} med ${ts[steps >> 1]!.toFixed(1)} ms`);
be.dispose();
