/**
 * What warren's data plane says about a start in its answer's headers: `x-warren-start` (warm,
 * prewarm or cold) and `server-timing` with the start's phases (`take;dur=0.12, read;dur=0.05`).
 * Pure, so it is tested as a table.
 */

/** The phases of a `server-timing` value, in order, each with its `dur` in ms (0 without one).
 * Metrics that are not tokens are skipped: a header a proxy mangled costs a phase, not the row. */
export function parseServerTiming(value: string | undefined): Array<[name: string, ms: number]> {
  if (!value) return [];
  const out: Array<[string, number]> = [];
  for (const metric of value.split(',')) {
    const [name = '', ...params] = metric.split(';').map((p) => p.trim());
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) continue;
    let ms = 0;
    for (const p of params) {
      const m = /^dur\s*=\s*"?([0-9.eE+-]+)"?$/.exec(p);
      if (m && Number.isFinite(Number(m[1]))) ms = Number(m[1]);
    }
    out.push([name, ms]);
  }
  return out;
}

/** The head of an HTTP/1.1 answer: its status and its headers, names lower-cased (the last of a
 * repeated header wins: warren sends each of ours once). Undefined when it is not one. */
export function parseHead(head: string): { status: number; headers: Record<string, string> } | undefined {
  const end = head.indexOf('\r\n\r\n');
  const lines = (end >= 0 ? head.slice(0, end) : head).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(m[1]), headers };
}
