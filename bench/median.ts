// The statistic every benchmark reports: the median of its rounds (the upper middle for an even count),
// which one disturbed round cannot move.
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('the median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * The median of round-by-round ratios: values[i] / baselines[i], each value against the baseline
 * measured in the same round, so that a machine slowing down between rounds cancels out.
 */
export function medianRatio(values: readonly number[], baselines: readonly number[]): number {
  return median(roundRatios(values, baselines));
}

/** values[i] / baselines[i] for each round. */
export function roundRatios(values: readonly number[], baselines: readonly number[]): number[] {
  if (values.length !== baselines.length) throw new RangeError(`${values.length} values against ${baselines.length} baselines`);
  return values.map((value, round) => value / baselines[round]!);
}
