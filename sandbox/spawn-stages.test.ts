import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SPAWN_STAGES, spawnStage } from './spawn-stages.js';

const NATIVE = fileURLToPath(new URL('./native/', import.meta.url));

/** Every stage the C side can report: werr_set's and the netlink helpers' stage arguments. */
function cStages(): Set<string> {
  const found = new Set<string>();
  for (const f of fs.readdirSync(NATIVE).filter((n) => n.endsWith('.c'))) {
    const src = fs.readFileSync(path.join(NATIVE, f), 'utf8');
    for (const m of src.matchAll(/werr_set\(\s*[^,]+,\s*"([^"]+)"/g)) found.add(m[1] as string);
    for (const m of src.matchAll(/\b(?:req_run|ifindex|check_name|link_change)\([^;"{\n]*?"([^"]+)"/g)) found.add(m[1] as string);
  }
  return found;
}

t.test('the TypeScript list of spawn stages is the C side\'s', async (t) => {
  const c = cStages();
  t.ok(c.size > 20, `found the C stages (${c.size})`);
  t.same([...c].filter((s) => !(SPAWN_STAGES as readonly string[]).includes(s)).sort(), [], 'none missing from SPAWN_STAGES');
  t.same(SPAWN_STAGES.filter((s) => !c.has(s) && s !== 'setup'), [], 'none that C never says');
  t.equal(spawnStage('overlay'), 'overlay');
  t.equal(spawnStage('from-the-future'), 'setup', 'an unknown one is setup');
});
