// `deno task explain`: the convolution arithmetic of a model, layer by layer. Thin: parses flags,
// then calls explainModel/formatExplanation (pipelines/explain.ts).

import {
  explainModel,
  formatExplanation,
  modelFromSpec,
  strideWarnings,
} from "../pipelines/explain.ts";
import { parseFlags, runCli, UsageError } from "../pipelines/cli_flags.ts";
import { ModelFormatError } from "../pipelines/load_model.ts";
import { mnistCnn, mnistDense } from "../pipelines/models.ts";
import type { Sequential } from "../pipelines/sequential.ts";

const USAGE = `Usage: deno task explain [--model cnn|dense|FILE] [--strict]

Prints, layer by layer, the output-size formula with the numbers filled in
((N - F) / S + 1 for 'valid'; P = (F - 1) / 2 for 'same' with an odd F) and the
parameter count worked out ((3*3*1 + 1) * 32 = 320). A stride that does not fit
(7x7 input, 3x3 filter, stride 3: (7 - 3) / 3 + 1 = 2.33) is flagged with the
border pixels Keras silently drops.

Flags:
  --model cnn|dense|FILE  the lecture's CNN (default), the Dense(512) network, or a
                          JSON file: a TF.js model.json, or a spec of layers such as
                          {"inputShape": [7, 7, 1],
                           "layers": [{"class": "Conv2D", "filters": 1,
                                       "kernelSize": 3, "strides": 3}]}
  --strict                a stride that drops pixels is an error (exit code 1)
  --help                  this text
`;

async function loadModelArg(model: string): Promise<{ model: Sequential; title: string }> {
  if (model === "cnn") return { model: mnistCnn(), title: "The lecture's CNN" };
  if (model === "dense") return { model: mnistDense(), title: "The Dense(512) network" };
  let text: string;
  try {
    text = await Deno.readTextFile(model);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`--model must be cnn, dense or a JSON file: "${model}" does not exist`);
    }
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--model ${model} is not JSON: ${(e as Error).message}`);
  }
  return { model: modelFromSpec(json, model), title: model };
}

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      model: { type: "string" },
      strict: { type: "boolean" },
    },
    USAGE,
  );
  if (values === null) return 0;
  const { model, title } = await loadModelArg(values.model ?? "cnn");
  const rows = explainModel(model);
  for (const line of formatExplanation(rows, { title: `${title} "${model.name}"` })) {
    console.log(line);
  }
  const warnings = strideWarnings(rows);
  if (values.strict && warnings.length > 0) {
    for (const w of warnings) console.error(`error: ${w.layer}: ${w.message}`);
    return 1;
  }
  return 0;
}

await runCli("explain", main, {
  isInputError: (e) => e instanceof ModelFormatError,
});
