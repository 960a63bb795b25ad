/**
 * A small metrics registry that renders the Prometheus text exposition format (version 0.0.4):
 * counters, gauges and histograms, each with optional labels. Enough for a service's `/metrics`
 * endpoint without a client library.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetricsRegistry } from "./metrics_registry.ts";
 * const registry = new MetricsRegistry();
 * const requests = registry.counter("requests_total", "Requests answered.", ["code"]);
 * requests.inc({ code: "200" });
 * const latency = registry.histogram("latency_seconds", "Request latency.", [0.01, 0.1]);
 * latency.observe(0.05);
 * const text = registry.render();
 * assert(text.includes('requests_total{code="200"} 1'));
 * assert(text.includes('latency_seconds_bucket{le="0.1"} 1'));
 * ```
 *
 * @module
 */

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

/** The content type of {@linkcode MetricsRegistry.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A number as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, or the shortest round-trip form. */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** `{a="1",b="2"}` (empty string when there are no labels). */
function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i]!)}"`);
  if (extra !== "") parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Shared label handling: one series per distinct tuple of label values. */
abstract class Metric<S> {
  readonly #series = new Map<string, { values: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly type: "counter" | "gauge" | "histogram",
  ) {
    if (!NAME.test(name)) {
      throw new RangeError(`Cannot register metric as its name must match ${NAME}: "${name}"`);
    }
    for (const l of labelNames) {
      if (!LABEL.test(l) || l === "le" || l.startsWith("__")) {
        throw new RangeError(`Cannot register metric "${name}": invalid label name "${l}"`);
      }
    }
  }

  protected abstract initial(): S;

  /** The series of these labels, created on first use. */
  protected series(labels: Labels): S {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) {
        throw new TypeError(
          `Metric "${this.name}" needs label "${n}": received ${JSON.stringify(labels)}`,
        );
      }
      return v;
    });
    if (Object.keys(labels).length !== values.length) {
      throw new TypeError(
        `Metric "${this.name}" takes labels [${this.labelNames}]: received ${
          JSON.stringify(labels)
        }`,
      );
    }
    const key = JSON.stringify(values);
    let s = this.#series.get(key);
    if (s === undefined) {
      s = { values, state: this.initial() };
      this.#series.set(key, s);
    }
    return s.state;
  }

  /** Every series, in creation order. */
  protected entries(): { values: string[]; state: S }[] {
    return [...this.#series.values()];
  }

  /** The sample lines of this metric (no HELP/TYPE). */
  abstract samples(): string[];

  /** HELP, TYPE and samples. */
  render(): string[] {
    return [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.samples(),
    ];
  }
}

/** A monotonically increasing count. */
export class Counter extends Metric<{ value: number }> {
  /** Creates a counter; register it to export it. */
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, "counter");
  }

  /** A new series' state: value 0. */
  protected initial() {
    return { value: 0 };
  }

  /** Adds `amount` (default 1; must not be negative). */
  inc(labels: Labels = {}, amount = 1): void {
    if (!(amount >= 0)) {
      throw new RangeError(`Cannot decrease counter "${this.name}": amount is ${amount}`);
    }
    this.series(labels).value += amount;
  }

  /** The current value of a series (0 if never incremented). */
  get(labels: Labels = {}): number {
    return this.series(labels).value;
  }

  /** The exposition lines of every series. */
  samples(): string[] {
    return this.entries().map((e) =>
      `${this.name}${labelText(this.labelNames, e.values)} ${formatValue(e.state.value)}`
    );
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric<{ value: number }> {
  /** Creates a gauge; register it to export it. */
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, "gauge");
  }

  /** A new series' state: value 0. */
  protected initial() {
    return { value: 0 };
  }

  /** Sets the value. */
  set(value: number, labels: Labels = {}): void {
    this.series(labels).value = value;
  }

  /** The current value. */
  get(labels: Labels = {}): number {
    return this.series(labels).value;
  }

  /** The exposition lines of every series. */
  samples(): string[] {
    return this.entries().map((e) =>
      `${this.name}${labelText(this.labelNames, e.values)} ${formatValue(e.state.value)}`
    );
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative `le` buckets, with their sum and count. */
export class Histogram extends Metric<HistogramState> {
  /** Upper bounds of the buckets, sorted, finite and distinct (`+Inf` is implicit). */
  readonly buckets: readonly number[];

  /** Creates a histogram; throws unless `buckets` holds at least one finite bound. */
  constructor(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ) {
    super(name, help, labelNames, "histogram");
    const sorted = [...new Set(buckets)].filter((b) => b !== Infinity).sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b) => !Number.isFinite(b))) {
      throw new RangeError(
        `Cannot register histogram "${name}": buckets must be finite numbers: current value is [${buckets}]`,
      );
    }
    this.buckets = sorted;
  }

  /** A new series' state: zero counts, sum and count. */
  protected initial(): HistogramState {
    return { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
  }

  /** Records one observation. */
  observe(value: number, labels: Labels = {}): void {
    const s = this.series(labels);
    // buckets are few (about 10): a linear scan is as fast as a binary search
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** Count and sum of a series. */
  get(labels: Labels = {}): { count: number; sum: number } {
    const s = this.series(labels);
    return { count: s.count, sum: s.sum };
  }

  /** The exposition lines of every series: cumulative buckets, `_sum` and `_count`. */
  samples(): string[] {
    const out: string[] = [];
    for (const e of this.entries()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += e.state.counts[i]!;
        const le = `le="${formatValue(b)}"`;
        out.push(`${this.name}_bucket${labelText(this.labelNames, e.values, le)} ${cumulative}`);
      });
      const inf = labelText(this.labelNames, e.values, 'le="+Inf"');
      out.push(`${this.name}_bucket${inf} ${e.state.count}`);
      const plain = labelText(this.labelNames, e.values);
      out.push(`${this.name}_sum${plain} ${formatValue(e.state.sum)}`);
      out.push(`${this.name}_count${plain} ${e.state.count}`);
    }
    return out;
  }
}

/** Holds metrics by name and renders them all. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric<unknown>>();

  #add<M extends Metric<unknown>>(metric: M): M {
    if (this.#metrics.has(metric.name)) {
      throw new RangeError(`Cannot register metric "${metric.name}": the name is taken`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** Registers a counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  /** Registers a gauge. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  /** Registers a histogram with the given upper bucket bounds (`+Inf` is implied). */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    return this.#add(new Histogram(name, help, buckets, labelNames));
  }

  /** The whole registry in the Prometheus text format, ending with a newline. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.#metrics.values()) lines.push(...m.render());
    return lines.join("\n") + "\n";
  }
}
