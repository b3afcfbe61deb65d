/**
 * Which function a data-plane request is for, and the URL the function sees: a pure function of
 * the request line's target and its Host header, tested as a table (routing.test.ts).
 *
 *   Host: <fn>.<domain>  (with a domain)  -> fn, the URL unchanged
 *   /<fn>/<rest...>?<query>                -> fn, '/<rest...>?<query>' ('/' when there is no rest)
 *
 * Nothing else routes: the data plane has no paths of its own, so `/v1/functions` is function
 * 'v1', and `/__warren/health` reaches the function too.
 */
import { FUNCTION_NAME } from './control.js';

/** `byHost`: routed by its Host header (a connection handed over stays with one host: handoff.ts). */
export type Route = { fn: string; path: string; byHost?: true } | { missing: string };

/** `domain` lower case, without a leading dot. */
export function route(url: string, host: string | undefined, domain: string | undefined): Route {
  if (domain !== undefined && host !== undefined) {
    const name = hostFunction(host, domain);
    if (name !== undefined) return FUNCTION_NAME.test(name) ? { fn: name, path: url, byHost: true } : { missing: name };
  }
  // origin-form only ('/...'): an absolute-form or '*' target names no function
  if (url.charCodeAt(0) !== 0x2f) return { missing: '' };
  let end = 1;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f || c === 0x3f) break; // '/' or '?'
    end++;
  }
  const name = url.slice(1, end);
  if (!FUNCTION_NAME.test(name)) return { missing: name };
  const rest = url.slice(end);
  return { fn: name, path: rest.charCodeAt(0) === 0x2f ? rest : '/' + rest };
}

/** The label left of `.<domain>` in a Host header (port and case aside), or undefined. */
function hostFunction(host: string, domain: string): string | undefined {
  let h = host.toLowerCase();
  // a port; an IPv6 literal ('[::1]:8080') never ends with a domain, so a plain lastIndexOf does
  const colon = h.lastIndexOf(':');
  if (colon !== -1 && !h.endsWith(']')) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length <= domain.length + 1 || !h.endsWith(domain) || h.charCodeAt(h.length - domain.length - 1) !== 0x2e) {
    return undefined;
  }
  return h.slice(0, h.length - domain.length - 1);
}
