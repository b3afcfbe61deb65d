import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Project } from '../deploy/index.js';
import { deployRequest, parseDeployArgs, readEnvFile } from './deploy-args.js';

const project: Project = {
  dir: '/p', configFile: '/p/wrangler.toml', name: 'app', main: '/p/index.ts', vars: { A: 'config', B: 'config' },
  define: {}, alias: {}, crons: [], limits: { memory: '64m', timeoutMs: 1000 }, egress: 'none', notes: [],
};

t.test('flags win over the config; --var over --env-file over the config', async (t) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-args-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const file = path.join(d, '.env');
  fs.writeFileSync(file, '# secrets\nB=from-file\nexport C="quoted # not a comment"\nD=plain # a comment\n');
  const args = parseDeployArgs(['app-dir', '--name=other', '--env-file', file, '--var', 'B=flag=with=equals', '--memory', '256m', '--cpus', '0.5', '--timeout', '2s', '--concurrency', '3', '--egress', '10.0.0.0/8, 192.168.0.0/16', '--json']);
  t.match(args, { target: 'app-dir', name: 'other', json: true });
  t.same(deployRequest(project, args, 'CODE'), {
    name: 'other',
    body: {
      module: 'CODE',
      vars: { A: 'config', B: 'flag=with=equals', C: 'quoted # not a comment', D: 'plain' },
      limits: { memory: '256m', cpus: 0.5, timeout_ms: 2000, concurrency: 3 },
      egress: ['10.0.0.0/8', '192.168.0.0/16'],
    },
  });
  t.same(deployRequest(project, parseDeployArgs([]), 'CODE').body, { module: 'CODE', vars: { A: 'config', B: 'config' }, limits: { memory: '64m', timeout_ms: 1000 }, egress: 'none' });
  t.notOk('crons' in deployRequest(project, parseDeployArgs([]), 'CODE').body, 'no crons field without triggers.crons');
  t.same(deployRequest({ ...project, crons: ['* * * * *'] }, parseDeployArgs([]), 'CODE').body.crons, ['* * * * *']);
  t.throws(() => readEnvFile(path.join(d, 'nope')), { code: 'WARREN_CONFIG_NOT_FOUND' });
});

t.test('usage errors', async (t) => {
  for (const argv of [['--bogus'], ['a', 'b'], ['--var', 'novalue'], ['--var', '1X=2'], ['--cpus', '0'], ['--timeout', 'soon'], ['--concurrency', '1.5'], ['--name']]) {
    t.throws(() => parseDeployArgs(argv), { code: 'WARREN_ARG_INVALID' }, argv.join(' '));
  }
  t.throws(() => deployRequest({ ...project, name: undefined }, parseDeployArgs([]), 'x'), { code: 'WARREN_CONFIG_INVALID', message: /no "name": set it, or give --name/ });
  t.same(parseDeployArgs(['--port', '9', 'x'], ['--port']).extra, { '--port': '9' });
});
