/**
 * RFC 5952 text of an IPv6 address given as eight 16-bit groups: lowercase, no leading zeros, and
 * the longest run of two or more zero groups (the first on a tie) written as `::`. One copy for the
 * packet codecs, the libpcap device list and /proc parsing, so equal addresses print equally.
 */
export function ipv6GroupsText(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is never shortened
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: readonly number[]) => g.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
