import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SourceWatcher } from './dev-watch.js';

t.test("a save is seen at once, as one change; editors' litter and node_modules are not", async (t) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-watch-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.mkdirSync(path.join(d, 'src'));
  fs.mkdirSync(path.join(d, 'node_modules', 'dep'), { recursive: true });
  const entry = path.join(d, 'src', 'index.ts');
  const dep = path.join(d, 'node_modules', 'dep', 'index.js');
  fs.writeFileSync(entry, '1');
  fs.writeFileSync(dep, '1');
  const calls: string[][] = [];
  const watcher = new SourceWatcher((files) => calls.push(files), 20);
  t.teardown(() => watcher.close());
  watcher.watch([entry, dep]);

  const next = async (): Promise<string[] | undefined> => {
    const before = calls.length;
    for (let i = 0; i < 50 && calls.length === before; i++) await new Promise((r) => setTimeout(r, 20));
    return calls[before];
  };
  const saved = Date.now();
  fs.writeFileSync(entry, '2');
  fs.appendFileSync(entry, '3');
  t.same(await next(), [entry], 'two writes, one call');
  t.ok(Date.now() - saved < 500, `seen in ${Date.now() - saved} ms`);

  fs.writeFileSync(path.join(d, 'src', '.index.ts.swp'), 'x');
  fs.writeFileSync(path.join(d, 'src', 'index.ts~'), 'x');
  fs.writeFileSync(dep, '2');
  t.equal(await next(), undefined, 'nothing for litter or a dependency');

  watcher.watch([]);
  fs.writeFileSync(entry, '4');
  t.equal(await next(), undefined, 'a dir no longer watched');
});
