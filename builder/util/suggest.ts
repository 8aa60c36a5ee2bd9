/**
 * Edit distance counting a swap of two neighbours as one edit (optimal string alignment), since
 * "bpfle" for "bpfel" is the typo people make. Small inputs only (keys, target and profile names).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidates to `value`, nearest first, within a distance that still looks like a typo. */
export function nearest(value: string, candidates: readonly string[], limit = 3): string[] {
  const v = value.toLowerCase();
  const maxDistance = Math.max(2, Math.floor(v.length / 3));
  return candidates
    .map((c) => ({ c, d: editDistance(v, c.toLowerCase()) }))
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
