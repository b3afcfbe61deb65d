/**
 * Regression: `warren deploy` of a project that imports a symlink to /dev/zero (or a FIFO: a
 * project cloned from someone else can hold either) never finished: esbuild read the device
 * without end, its service process growing by hundreds of MiB a second, and it outlived the CLI
 * when that was killed (reparented to init, still reading). A file bigger than a deploy may hold
 * was read whole before the server refused the upload. Now every file is checked before esbuild
 * reads it: only regular files, of at most MAX_INPUT_BYTES, each refused with its path (and the
 * config file the same way, at most MAX_CONFIG_BYTES: it was read with readFileSync, to an EOF
 * that /dev/zero never gives). What is
 * not imported is never read, and symlinks are still followed, as Node and wrangler follow them.
 * No root needed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { bundle, MAX_INPUT_BYTES } from '../../deploy/bundle.js';
import { loadProject } from '../../deploy/config.js';
import { MAX_CONFIG_BYTES } from '../../deploy/config-file.js';
import { isWarrenError } from '../../lib/errors.js';

function project(t: Test, index: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-hostile-project-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.mkdirSync(path.join(d, 'src'));
  fs.writeFileSync(path.join(d, 'src/index.js'), index);
  return d;
}

/** A file of `size` bytes that takes no disk (and costs nothing unless read). */
function sparse(file: string, size: number): void {
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, size);
}

const importing = (file: string) => `import data from './${file}';\nexport default { fetch() { return new Response(String(data.length)) } };\n`;

/** The build's failure, bounded in time: a build that reads forever fails the test, not hangs it. */
async function refused(t: Test, d: string, message: RegExp): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the build still runs after 10 s')), 10_000)));
  try {
    await Promise.race([bundle(path.join(d, 'src/index.js'), { dir: d }), hung]);
    t.fail('it built');
  } catch (err) {
    t.ok(isWarrenError(err, 'WARREN_BUNDLE_BUILD'), `WARREN_BUNDLE_BUILD: ${(err as Error).message.split('\n')[1]}`);
    t.match((err as Error).message, message);
  } finally {
    clearTimeout(timer);
  }
}

t.test('an imported symlink to /dev/zero is refused, not read without end', async (t) => {
  const d = project(t, importing('zero.txt'));
  fs.symlinkSync('/dev/zero', path.join(d, 'src/zero.txt'));
  await refused(t, d, /src\/index\.js:1:\d+: error: '\/dev\/zero' is not a regular file/);
});

t.test('an imported FIFO is refused, not waited on', async (t) => {
  const d = project(t, importing('pipe.txt'));
  execFileSync('mkfifo', [path.join(d, 'src/pipe.txt')]);
  await refused(t, d, /'src\/pipe\.txt' is not a regular file/);
});

t.test('an imported file bigger than a deploy is refused before it is read', async (t) => {
  const d = project(t, importing('big.txt'));
  sparse(path.join(d, 'src/big.txt'), MAX_INPUT_BYTES + 1);
  await refused(t, d, new RegExp(`'src/big\\.txt' is ${MAX_INPUT_BYTES + 1} bytes, more than a deploy may hold`));
});

t.test('what is not imported is never read; a symlink out of the project is followed', async (t) => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-outside-'));
  t.teardown(() => fs.rmSync(outside, { recursive: true, force: true }));
  fs.writeFileSync(path.join(outside, 'shared.txt'), 'from outside');
  const d = project(t, importing('shared.txt'));
  fs.symlinkSync(path.join(outside, 'shared.txt'), path.join(d, 'src/shared.txt'));
  fs.symlinkSync('/dev/zero', path.join(d, 'src/zero.txt'));
  execFileSync('mkfifo', [path.join(d, 'src/pipe')]);
  sparse(path.join(d, 'huge.bin'), 1024 * 1024 * 1024);
  const b = await bundle(path.join(d, 'src/index.js'), { dir: d });
  t.match(b.code, /from outside/, 'the symlinked file is bundled, as Node and wrangler would');
  t.same(b.inputs.map((f) => path.basename(f)).sort(), ['index.js', 'shared.txt'], 'nothing else was read');
});

t.test('a config file that is /dev/zero, a FIFO or huge is refused before it is read', async (t) => {
  const cases: Array<[string, (file: string) => void, RegExp]> = [
    ['a symlink to /dev/zero', (f) => fs.symlinkSync('/dev/zero', f), /wrangler\.toml' is not a regular file/],
    ['a FIFO', (f) => execFileSync('mkfifo', [f]), /wrangler\.toml' is not a regular file/],
    ['huge', (f) => sparse(f, MAX_CONFIG_BYTES + 1), new RegExp(`wrangler\\.toml' is ${MAX_CONFIG_BYTES + 1} bytes`)],
  ];
  for (const [what, make, message] of cases) {
    const d = project(t, importing('x.txt'));
    make(path.join(d, 'wrangler.toml'));
    t.throws(() => loadProject(d), { code: 'WARREN_CONFIG_PARSE', message }, what);
  }
});
