// Runs one of the project's scripts as a user would, from the repository root, and collects its
// exit code and output. Private to the script tests (the leading underscore, as Deno std).

import { fileURLToPath } from "node:url";

/** The repository root (scripts run from there, as `deno task` runs them). */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What a finished script left: its exit code and its decoded stdout and stderr. */
export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <permissions> scripts/<script>.ts ...args` from the repository root with
 * NO_COLOR set, and waits for it. `permissions` defaults to `-A`; a test that checks a task's
 * narrower permissions (as `deno.json` grants them) passes those instead.
 */
export async function runScript(
  script: string,
  args: readonly string[],
  permissions: readonly string[] = ["-A"],
): Promise<ScriptRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `scripts/${script}.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}
