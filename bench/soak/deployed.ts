/**
 * What is deployed, as the control API tells it: each function's live version and every version
 * it keeps. Taken before and after a fault, the two must match (no function or version lost, the
 * same version live).
 */
import type { Server } from './server.js';

export type Deployed = Record<string, { live: number; versions: number[] }>;

export async function deployed(server: Server): Promise<Deployed> {
  const list = await server.api('GET', '/v1/functions');
  if (list.status !== 200) throw new Error(`GET /v1/functions answered ${list.status}: ${list.text.slice(0, 200)}`);
  const out: Deployed = {};
  for (const f of list.body.functions as Array<{ name: string; live: { version: number } }>) {
    const v = await server.api('GET', `/v1/functions/${f.name}/versions`);
    if (v.status !== 200) throw new Error(`GET /v1/functions/${f.name}/versions answered ${v.status}`);
    out[f.name] = { live: f.live.version, versions: (v.body.versions as Array<{ version: number }>).map((x) => x.version).sort((a, b) => a - b) };
  }
  return out;
}

/** What `before` had that `after` lost or changed, one line each; [] when nothing. */
export function lost(before: Deployed, after: Deployed): string[] {
  const out: string[] = [];
  for (const [name, b] of Object.entries(before)) {
    const a = after[name];
    if (!a) {
      out.push(`function '${name}' is gone`);
      continue;
    }
    if (a.live !== b.live) out.push(`function '${name}': live version ${b.live} became ${a.live}`);
    const missing = b.versions.filter((v) => !a.versions.includes(v));
    if (missing.length > 0) out.push(`function '${name}': versions ${missing.join(', ')} are gone`);
  }
  return out;
}
