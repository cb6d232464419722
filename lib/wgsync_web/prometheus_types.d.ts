/** Types of `npm:parse-prometheus-text-format`, which ships none. */
export default function parsePrometheusTextFormat(text: string): unknown[];
