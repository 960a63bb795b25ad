// `deno task plot METRICS.jsonl`: the training curves of a metrics log as an SVG picture. Thin:
// parses flags, then calls readMetricsJsonl/writeTrainingPlot (pipelines/svg_plot.ts).

import { parseArgs } from "node:util";
import { runCli, UsageError } from "../pipelines/cli_flags.ts";
import { readMetricsJsonl, writeTrainingPlot } from "../pipelines/svg_plot.ts";

const USAGE = `Usage: deno task plot METRICS.jsonl [--out FILE] [--title TEXT]

Draws loss and accuracy per epoch (training, and validation when the log has it; the
test result as a dotted line) from the JSONL log of \`deno task train --metrics FILE\`,
as an SVG picture with two panels, axes, ticks and a legend.

Flags:
  --out FILE     the SVG file to write (default: METRICS with .svg for .jsonl)
  --title TEXT   the plot's title (default "Training curves")
  --help         this text
`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      title: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "missing the metrics file (METRICS.jsonl)"
        : `expected one metrics file, received ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  const input = positionals[0]!;
  const out = values.out ?? `${input.replace(/\.jsonl?$/i, "")}.svg`;
  let records;
  try {
    records = await readMetricsJsonl(input);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`"${input}" does not exist`);
    throw e;
  }
  await writeTrainingPlot(records, out, values.title === undefined ? {} : { title: values.title });
  const epochs = records.filter((r) => "epoch" in r).length;
  console.log(`wrote ${out} (${epochs} epoch${epochs === 1 ? "" : "s"})`);
  return 0;
}

await runCli("plot", main, {
  isInputError: (e) => e instanceof SyntaxError || e instanceof RangeError,
});
