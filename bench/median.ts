// The statistic every benchmark reports: the median of its rounds (the upper middle for an even count),
// which one disturbed round cannot move.
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('the median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
