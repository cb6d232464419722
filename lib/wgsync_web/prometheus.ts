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
    families = parsePrometheusTextFormat(text) as MetricFamily[];
  } catch (error) {
    throw new MetricsFormatError(
      `Cannot read the metrics as they are not in the Prometheus text format: source is "${source}"`,
      { cause: error },
    );
  }
  // The parser skips lines it cannot read: a body with text but no family
  // (an HTML error page, say) is not a metrics answer.
  if (families.length === 0 && text.trim() !== "") {
    throw new MetricsFormatError(
      `Cannot read the metrics as no line is in the Prometheus text format: source is "${source}"`,
    );
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
