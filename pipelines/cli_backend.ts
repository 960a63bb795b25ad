/**
 * The `--backend wasm|cpu` and `--workers N` flags that the task scripts share, and the backend
 * they select.
 *
 * @module
 */

import { type Backend, cpuBackend } from "../engine/backend.ts";
import { createWasmBackend } from "../engine/wasm/wasm_backend.ts";
import { choiceFlag, intFlag } from "./cli_flags.ts";

/** The backend flags as parsed: which kernels, and how many threads for the wasm ones. */
export interface BackendFlags {
  readonly name: "wasm" | "cpu";
  readonly workers: number;
}

/** Parses `--backend` (default wasm) and `--workers` (default: the number of cores). */
export function backendFlags(values: { backend?: string; workers?: string }): BackendFlags {
  return {
    name: choiceFlag("backend", values.backend, ["wasm", "cpu"] as const, "wasm"),
    workers: intFlag("workers", values.workers, navigator.hardwareConcurrency ?? 1),
  };
}

/** The backend the flags select; the caller disposes it. */
export function createBackend(flags: BackendFlags): Promise<Backend> {
  return flags.name === "cpu"
    ? Promise.resolve(cpuBackend)
    : createWasmBackend({ workers: flags.workers });
}
