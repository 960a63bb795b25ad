/**
 * Flag parsing shared by the `deno task` scripts: `node:util`'s `parseArgs` in strict mode, plus
 * typed value checks. A bad flag raises `UsageError`, which the scripts turn into a message and
 * exit code 2.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A command-line mistake: the scripts print it with the usage and exit with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses a positive integer flag value. */
export function intFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  min = 1,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `--${flag} must be an integer >= ${min}: received "${value}"`,
    );
  }
  return n;
}

/** Parses a number flag in [min, max). */
export function numberFlag(
  flag: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n >= max) {
    throw new UsageError(`--${flag} must be a number in [${min}, ${max}): received "${value}"`);
  }
  return n;
}

/** Parses a flag restricted to a set of words. */
export function choiceFlag<T extends string>(
  flag: string,
  value: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(", ")}: received "${value}"`);
  }
  return value as T;
}

const HELP_FLAG = { help: { type: "boolean", short: "h" } } as const;

/**
 * `parseArgs` as the scripts call it: strict, with `--help` / `-h` added to `options`. Prints
 * `usage` and returns null when `--help` is given; refuses a positional argument with a
 * {@linkcode UsageError} naming it; else returns the flag values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./cli_flags.ts";
 * const flags = parseFlags(["--reps", "3"], { reps: { type: "string" } }, "usage");
 * assert.equal(flags?.reps, "3");
 * assert.throws(() => parseFlags(["oops"], {}, "usage"), /unexpected argument "oops"/);
 * ```
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  usage: string,
) {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { ...options, ...HELP_FLAG },
  });
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    return null;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return values;
}

/** Whether `e` is a command-line mistake: a {@linkcode UsageError} or a `parseArgs` error. */
export function isUsageError(e: unknown): boolean {
  return e instanceof UsageError ||
    String((e as { code?: unknown } | null)?.code ?? "").startsWith("ERR_PARSE_ARGS");
}

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** More errors that are the user's input (a bad file named on the command line): exit 2. */
  isInputError?: (e: unknown) => boolean;
  /** Errors that end the program quietly with this code (e.g. a closed pipe: 0). */
  quietExits?: (e: unknown) => number | undefined;
}

/**
 * Runs a `deno task` script's `main` and exits with its code. A {@linkcode UsageError}, a
 * `parseArgs` error or an input error prints `error: ...` with a pointer to `--help` and exits 2;
 * anything else is a bug and is rethrown with its stack.
 */
export async function runCli(
  task: string,
  main: (args: string[]) => Promise<number>,
  options: RunCliOptions = {},
): Promise<never> {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    const quiet = options.quietExits?.(e);
    if (quiet !== undefined) Deno.exit(quiet);
    if (isUsageError(e) || options.isInputError?.(e)) {
      console.error(
        `error: ${(e as Error).message}\nRun "deno task ${task} --help" to see the flags.`,
      );
      Deno.exit(2);
    }
    throw e;
  }
}
