/**
 * The header lines of a control socket's message (a request to the runtime, control-wire.ts, or
 * its answer to the host, control-client.ts): only what the control channel uses of them.
 */

export interface HeadFields {
  /** Its Content-Length; null when it has none. */
  length: number | null;
  /** `Connection: close`: the connection ends after this exchange. */
  close: boolean;
}

/** The fields of `lines` (a head's lines after its first); a string saying what is wrong with
 * them otherwise: a line without a name, a Content-Length that is not a number, or a
 * Transfer-Encoding (the control channel's bodies always have a Content-Length). */
export function headFields(lines: readonly string[]): HeadFields | string {
  let length: number | null = null;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return 'a malformed header line';
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,12}$/.test(value)) return 'a Content-Length that is not a number';
      length = Number(value);
    } else if (name === 'transfer-encoding') return 'a Transfer-Encoding (send a Content-Length)';
    else if (name === 'connection' && value.toLowerCase() === 'close') close = true;
  }
  return { length, close };
}
