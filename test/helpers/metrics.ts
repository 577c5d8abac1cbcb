import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';

/**
 * A /metrics text parsed by parse-prometheus-text-format. That parser keeps only the
 * unlabelled sample of a histogram, so histograms are read as untyped: their `_bucket`,
 * `_sum` and `_count` series come out as families of their own, with every label.
 */
export function parseMetrics(text: string): MetricFamily[] {
  return parsePrometheusTextFormat(text.replace(/^(# TYPE \S+) histogram$/gm, '$1 untyped'));
}

/** One family's samples as `label=value,...` (labels sorted) → value; throws if the family is missing. */
export function samples(families: MetricFamily[], name: string): Record<string, number> {
  const family = families.find((f) => f.name === name);
  if (!family) throw new Error(`no ${name} in the metrics (${families.map((f) => f.name).join(', ')})`);
  const out: Record<string, number> = {};
  for (const sample of family.metrics) {
    const key = Object.entries(sample.labels ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[key] = Number(sample.value);
  }
  return out;
}

/** The sample of `name` with these labels (and any others), 0 when there is none yet. */
export function valueOf(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  const sample = family?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return sample ? Number(sample.value) : 0;
}
