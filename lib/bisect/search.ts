// The search of a bisect: items 1..n (a series' prefixes, or kernel versions) after a reference 0,
// each judged the same as the reference or different; find the first that differs, judging as few
// as possible (binary search: the change is taken to stay once it appears, as git bisect does). An
// item that cannot be judged (no kernel, a flake) is skipped and a neighbour judged instead; when
// skipped items hide where the change came, all of them are named. A difference counts only once it
// shows again (confirmedJudgement): one run of a check with a timing window can fake one.

export type Judgement = 'same' | 'differs' | 'unjudged';

export interface SearchResult {
  /** The first item that differs (1..n), or undefined when none does or skips hide it. */
  first: number | undefined;
  /** When skipped items leave it open: the items the first difference is among. */
  candidates: number[];
  /** Each item judged, in the order judged. */
  judged: Array<{ item: number; judgement: Judgement }>;
}

/** The unskipped item of (lo, hi) closest to their middle; undefined when every one was skipped. */
function probe(lo: number, hi: number, skipped: ReadonlySet<number>): number | undefined {
  const middle = Math.floor((lo + hi) / 2);
  for (let distance = 0; middle - distance > lo || middle + distance < hi; distance++) {
    for (const item of [middle + distance, middle - distance]) {
      if (item > lo && item < hi && !skipped.has(item)) return item;
    }
  }
  return undefined;
}

export async function firstDiffering(n: number, judge: (item: number) => Promise<Judgement>): Promise<SearchResult> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a bisect needs at least one item after the reference, got ${n}`);
  // Invariant: lo is the same as the reference (0 is the reference itself); hi differs, or is n + 1.
  let lo = 0;
  let hi = n + 1;
  const skipped = new Set<number>();
  const judged: SearchResult['judged'] = [];
  for (let item = probe(lo, hi, skipped); item !== undefined; item = probe(lo, hi, skipped)) {
    const judgement = await judge(item);
    judged.push({ item, judgement });
    if (judgement === 'same') lo = item;
    else if (judgement === 'differs') hi = item;
    else skipped.add(item);
  }
  // Every item strictly between lo and hi was skipped: the change came at one of them or at hi.
  const open = [...skipped].filter((item) => item > lo && item < hi).sort((a, b) => a - b);
  if (open.length === 0) return { first: hi <= n ? hi : undefined, candidates: hi <= n ? [hi] : [], judged };
  return { first: undefined, candidates: hi <= n ? [...open, hi] : open, judged };
}

/**
 * `judge` of one item, with a difference confirmed: a 'differs' is judged again, and when the second
 * run does not differ a third decides (two of three). Under TCG a timing-sensitive stage can fail once
 * in a few dozen runs on an unchanged kernel, and a bisect that believed it named the wrong patch (seen
 * in CI: TEST_RUNSTATE_DATA failed on a prefix that does not touch it). Costs one more run per
 * differing item, and a "same" or "unjudged" item is judged once, as before.
 */
export async function confirmedJudgement(judge: (attempt: number) => Promise<Judgement>): Promise<Judgement> {
  const first = await judge(1);
  if (first !== 'differs') return first;
  const second = await judge(2);
  if (second === 'differs') return 'differs';
  const third = await judge(3);
  if (third === 'differs') return 'differs';
  return second === 'same' && third === 'same' ? 'same' : 'unjudged';
}
