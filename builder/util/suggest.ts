/** Levenshtein distance, small inputs only (keys, target and profile names). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidates to `value`, nearest first, within a distance that still looks like a typo. */
export function nearest(value: string, candidates: readonly string[], limit = 3): string[] {
  const v = value.toLowerCase();
  const maxDistance = Math.max(2, Math.floor(v.length / 3));
  return candidates
    .map((c) => {
      const lc = c.toLowerCase();
      const d = lc.includes(v) || v.includes(lc) ? 1 : editDistance(v, lc);
      return { c, d };
    })
    .filter(({ d }) => d <= maxDistance)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, limit)
    .map(({ c }) => c);
}

/** ` (did you mean "x"?)` or the empty string. */
export function didYouMean(value: string, candidates: readonly string[]): string {
  const close = nearest(value, candidates, 1);
  return close.length > 0 ? ` (did you mean "${close[0]}"?)` : '';
}
