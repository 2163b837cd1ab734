// "Did you mean …" hints: the known name closest to a misspelt one, by edit distance.

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0] as number;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j] as number;
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      previous[j] = Math.min(above + 1, (previous[j - 1] as number) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length] as number;
}

/** The closest of `known` to `name`, or null when none is close. Example: `nearest("maxRetry", ["maxRetries"])`. */
export function nearest(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    // The distance is at least the difference in length: a candidate too far by length alone is never
    // close, and skipping it keeps a huge name (a hostile message's task) from costing length x length.
    if (Math.abs(name.length - candidate.length) > closeEnough(candidate)) continue;
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== null && bestDistance <= closeEnough(best) ? best : null;
}

function closeEnough(candidate: string): number {
  return Math.max(2, Math.floor(candidate.length / 3));
}

/** ` (did you mean "x"?)` or an empty string. */
export function didYouMean(name: string, known: readonly string[]): string {
  const match = nearest(name, known);
  return match ? ` (did you mean "${match}"?)` : "";
}
