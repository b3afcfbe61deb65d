import t from 'tap';
import { validateOptions } from './validate.js';
import type { SandboxOptions } from './host-options.js';

const ok: SandboxOptions = { argv: ['/bin/true'], layers: ['/var/lib/warren/layers/a'] };

const refused: Array<[string, Partial<SandboxOptions>, RegExp]> = [
  ['a NUL in an env value', { env: { A: 'b\0c' } }, /env A: contains a NUL byte/],
  ['an env name with =', { env: { 'A=B': 'c' } }, /env: invalid name/],
  ['an empty env name', { env: { '': 'c' } }, /env: invalid name/],
  ['a NUL in an arg', { argv: ['/bin/echo', 'a\0b'] }, /argv\[1\]: contains a NUL byte/],
  ['no command', { argv: [] }, /argv: a command is needed/],
  ['an arg that is not a string', { argv: ['/bin/echo', 3 as unknown as string] }, /argv\[1\]: expected a string/],
  ['too many args', { argv: Array.from({ length: 4097 }, () => 'x') }, /argv: 4097 entries, at most 4096/],
  ['a relative cwd', { cwd: 'tmp' }, /cwd: 'tmp' is not an absolute path/],
  ['a layer with a comma', { layers: ['/a,b'] }, /layers\[0\]: '\/a,b' contains ','/],
  ['a layer with a colon', { layers: ['/a:b'] }, /contains ':'/],
  ['a hostname with a slash', { hostname: 'a/b' }, /hostname: 'a\/b' is not a valid hostname/],
  ['a hostname over 64', { hostname: 'a'.repeat(65) }, /not a valid hostname/],
  ['a zero memory limit', { limits: { memoryBytes: 0 } }, /limits.memoryBytes: expected a positive integer/],
  ['a NaN cpu limit', { limits: { cpus: Number.NaN } }, /limits.cpus: expected a positive number/],
  ['a fractional pids limit', { limits: { pids: 1.5 } }, /limits.pids/],
  ['a bind with a colon', { binds: [{ src: '/a:b', dst: '/c', readonly: true }] }, /binds src/],
  ['a bind source that climbs to the host root', { binds: [{ src: '/tmp/..', dst: '/h', readonly: true }] }, /binds src: '\/tmp\/\.\.' has a '\.' or '\.\.' step/],
  ['a bind target that climbs out', { binds: [{ src: '/tmp', dst: '/a/../..', readonly: true }] }, /binds dst: .* has a '\.' or '\.\.' step/],
  ['a bind target of /', { binds: [{ src: '/tmp', dst: '//', readonly: true }] }, /binds dst: '\/\/' would cover the sandbox's root/],
  ['a bind source under /proc', { binds: [{ src: '/proc/self/root', dst: '/h', readonly: true }] }, /binds src: '\/proc\/self\/root' is under \/proc/],
  ['too many binds', { binds: Array.from({ length: 33 }, () => ({ src: '/a', dst: '/b', readonly: true })) }, /binds: 33 entries, at most 32/],
  ['an idmap flag that is not a boolean', { binds: [{ src: '/a', dst: '/b', readonly: false, idmap: 'yes' as unknown as boolean }] }, /binds idmap: expected a boolean/],
  ['a keep dir with a comma', { keep: '/var/a,b' }, /keep/],
  ['a record that is not an object', { record: [1] as unknown as Record<string, unknown> }, /record: expected a plain object/],
  ['a record that is not JSON', { record: { n: 1n } }, /record: not JSON/],
  ['a record too big to keep', { record: { s: 'x'.repeat(70_000) } }, /record: \d+ bytes of JSON, over 65536/],
];

t.test('options a user can get wrong are refused with WARREN_SANDBOX_BAD_OPTION naming the option', async (t) => {
  t.doesNotThrow(() => validateOptions(ok), 'plain options pass');
  t.doesNotThrow(() => validateOptions({ ...ok, hostname: 'my-host.local', env: { A: '' }, cwd: '/', limits: { cpus: 0.5 } }), 'ordinary ones too');
  for (const [what, change, message] of refused) {
    t.throws(() => validateOptions({ ...ok, ...change }), { code: 'WARREN_SANDBOX_BAD_OPTION', message }, what);
  }
});
