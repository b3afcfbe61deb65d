import t from 'tap';
import { isWarrenError } from '../lib/errors.js';
import { isCidr, parseDeploySpec } from './deploy-spec.js';

const MOD = 'export default { fetch() { return new Response("hi") } }';

t.test('a deploy body becomes a DeploySpec', async (t) => {
  t.same(parseDeploySpec({ module: MOD }), { module: MOD, vars: {}, limits: {} });
  t.same(
    parseDeploySpec({
      module: MOD,
      vars: { GREETING: 'hi', _X1: '' },
      limits: { memory: '128m', cpus: 0.5, timeout_ms: 30000, concurrency: 16 },
      egress: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'],
    }),
    {
      module: MOD,
      vars: { GREETING: 'hi', _X1: '' },
      limits: { memoryBytes: 128 * 1024 * 1024, cpus: 0.5, timeoutMs: 30000, concurrency: 16 },
      egress: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'],
    },
  );
  t.same(parseDeploySpec({ module: MOD, limits: { memory: 1048576 }, egress: 'none' }).limits, { memoryBytes: 1048576 });
  t.equal(parseDeploySpec({ module: MOD, egress: 'public' }).egress, 'public');
  t.same(parseDeploySpec({ module: MOD, crons: ['*/5 * * * *', '* * * * * *'] }).crons, ['*/5 * * * *', '* * * * * *']);
  t.same(parseDeploySpec({ module: MOD, crons: [] }).crons, []);
});

t.test('a body of the wrong shape is refused, naming the field', async (t) => {
  const cases: Array<[body: unknown, message: RegExp]> = [
    [undefined, /the deploy must be a JSON object/],
    [[MOD], /the deploy must be a JSON object/],
    ['x', /the deploy must be a JSON object/],
    [{}, /"module" must be/],
    [{ module: '  ' }, /"module" must be/],
    [{ module: 1 }, /"module" must be/],
    [{ module: MOD, limit: {} }, /unknown field "limit"/],
    [{ module: MOD, vars: [] }, /"vars" must be a JSON object/],
    [{ module: MOD, vars: { '1X': 'a' } }, /"vars" key '1X'/],
    [{ module: MOD, vars: { 'A-B': 'a' } }, /"vars" key 'A-B'/],
    [{ module: MOD, vars: { A: 1 } }, /"vars.A" must be a string/],
    [{ module: MOD, limits: 5 }, /"limits" must be a JSON object/],
    [{ module: MOD, limits: { mem: '1m' } }, /"limits" has unknown field "mem"/],
    [{ module: MOD, limits: { memory: 'lots' } }, /invalid "limits.memory" 'lots'/],
    [{ module: MOD, limits: { memory: '0m' } }, /invalid "limits.memory"/],
    [{ module: MOD, limits: { memory: -5 } }, /"limits.memory" must be a whole number/],
    [{ module: MOD, limits: { memory: true } }, /"limits.memory" must be a size/],
    [{ module: MOD, limits: { cpus: 0 } }, /"limits.cpus"/],
    [{ module: MOD, limits: { cpus: '1' } }, /"limits.cpus"/],
    [{ module: MOD, limits: { timeout_ms: 1.5 } }, /"limits.timeout_ms" must be a whole number/],
    [{ module: MOD, limits: { concurrency: 0 } }, /"limits.concurrency" must be a whole number/],
    [{ module: MOD, egress: 'all' }, /"egress" must be "public", "none" or a list of CIDRs/],
    [{ module: MOD, egress: ['10.0.0.0/33'] }, /"egress\[0\]" must be a CIDR/],
    [{ module: MOD, egress: ['10.0.0.0/8', 'example.com'] }, /"egress\[1\]" must be a CIDR/],
    [{ module: MOD, crons: '* * * * *' }, /"crons" must be a list of cron expressions/],
    [{ module: MOD, crons: ['* * * * *', 5] }, /"crons\[1\]" must be a cron expression, not 5/],
    [{ module: MOD, crons: [' '] }, /"crons\[0\]" must be a cron expression/],
  ];
  for (const [body, message] of cases) {
    t.test(JSON.stringify(body) ?? 'undefined', async (t) => {
      try {
        parseDeploySpec(body);
        t.fail('accepted');
      } catch (err) {
        t.ok(isWarrenError(err, 'WARREN_DEPLOY_INVALID'), 'WARREN_DEPLOY_INVALID');
        t.match((err as Error).message, message);
      }
    });
  }
});

t.test('CIDRs', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['10.0.0.0/8', true], ['0.0.0.0/0', true], ['1.2.3.4', true], ['::/0', true], ['fd00::/128', true],
    ['10.0.0.0/', false], ['10.0.0.0/x', false], ['10.0.0/8', false], ['fd00::/129', false], ['', false],
  ];
  for (const [text, ok] of cases) t.equal(isCidr(text), ok, text);
});
