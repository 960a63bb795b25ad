import { mnistCnn, mnistDense } from "../pipelines/models.ts";
import { loadMnistSplit } from "../pipelines/mnist_files.ts";
const m = mnistCnn({ seed: 1 });
m.summary();
mnistDense().summary();
const s = await loadMnistSplit({ split: "train" });
const N = 2000;
const x = new Float32Array(N * 784);
for (let i = 0; i < N * 784; i++) x[i] = s.images[i]! / 255;
const y = new Float32Array(N * 10);
for (let i = 0; i < N; i++) y[i * 10 + s.labels[i]!] = 1;
m.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy", metrics: ["accuracy"] });
const t0 = performance.now();
const h = await m.fit({ shape: [N, 28, 28, 1], data: x }, { shape: [N, 10], data: y }, {
  epochs: 1,
  batchSize: 64,
});
console.log(h, (performance.now() - t0) / 32, "ms/step");
