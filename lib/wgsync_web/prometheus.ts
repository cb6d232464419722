/**
 * The Prometheus text format read with `npm:parse-prometheus-text-format`
 * (not by hand), reduced to what the overview needs: per metric family the
 * sum of its samples' values, and for histograms and summaries the sums of
 * `_sum` and `_count`.
 *
 * @module
 */
// @ts-types="./prometheus_types.d.ts"
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One metric family as the parser returns it. */
export interface MetricFamily {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

/** A metric name of the text format. */
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** A sample value of the text format (Go's ParseFloat forms). */
const SAMPLE_VALUE = /^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

/** Totals of one family. */
export interface FamilyTotals {
  type: MetricFamily["type"];
  /** The sum of the samples' values (counters, gauges, untyped). */
  value: number;
  /** The greatest sample value (e.g. the oldest queue age over targets). */
  max: number;
  /** The sum of `_sum` (histograms, summaries). */
  sum: number;
  /** The sum of `_count` (histograms, summaries). */
  count: number;
}

/** Raised when a `/metrics` answer is not the Prometheus text format. */
export class MetricsFormatError extends Error {
  /** Constructs a MetricsFormatError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MetricsFormatError";
  }
}

/** Parses a `/metrics` body; throws {@linkcode MetricsFormatError}. */
export function parseMetrics(text: string, source: string): MetricFamily[] {
  let families: MetricFamily[];
  try {
    // The parser drops a last line without its line feed.
    const lines = text.endsWith("\n") ? text : `${text}\n`;
    families = parsePrometheusTextFormat(lines) as MetricFamily[];
  } catch (error) {
    throw new MetricsFormatError(
      `Cannot read the metrics as they are not in the Prometheus text format: source is "${source}"`,
      { cause: error },
    );
  }
  // The parser is lenient (it skips some lines and takes any word for a
  // name or a value): a body with text but no family, or a family whose name
  // or values are not the format's (an HTML error page, say), is refused.
  if (families.length === 0 && text.trim() !== "") {
    throw new MetricsFormatError(
      `Cannot read the metrics as no line is in the Prometheus text format: source is "${source}"`,
    );
  }
  for (const family of families) {
    const bad = !METRIC_NAME.test(family.name) ||
      family.metrics.some((sample) =>
        [
          sample.value,
          sample.sum,
          sample.count,
          ...Object.values(sample.buckets ?? {}),
          ...Object.values(sample.quantiles ?? {}),
        ].some((value) => value !== undefined && !SAMPLE_VALUE.test(value))
      );
    if (bad) {
      throw new MetricsFormatError(
        `Cannot read the metrics as a sample is not in the Prometheus text format: source is "${source}", metric is ${
          JSON.stringify(family.name.slice(0, 80))
        }`,
      );
    }
  }
  return families;
}

/** Totals per family name. */
export function familyTotals(
  families: readonly MetricFamily[],
): Map<string, FamilyTotals> {
  const totals = new Map<string, FamilyTotals>();
  for (const family of families) {
    const entry: FamilyTotals = {
      type: family.type,
      value: 0,
      max: Number.NEGATIVE_INFINITY,
      sum: 0,
      count: 0,
    };
    for (const sample of family.metrics) {
      if (sample.value !== undefined) {
        const value = Number(sample.value);
        if (Number.isFinite(value)) {
          entry.value += value;
          entry.max = Math.max(entry.max, value);
        }
      }
      if (sample.sum !== undefined) entry.sum += Number(sample.sum) || 0;
      if (sample.count !== undefined) entry.count += Number(sample.count) || 0;
    }
    totals.set(family.name, entry);
  }
  return totals;
}
