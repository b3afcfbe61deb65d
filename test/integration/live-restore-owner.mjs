// The owner process of test/integration/live-restore.test.ts: opens a SandboxHost (from the build,
// dist/), creates the sandboxes it is given, says what it made on one stdout line, then waits to
// be killed. Its argument: JSON { dirs, liveRestore?, spare?, before?: SandboxOptions[], sandboxes: SandboxOptions[], inFlight?: SandboxOptions[] }:
// `before` ones run to their end and are destroyed first (their cgroups are then the driver's
// spares); inFlight ones are asked for, not waited for, as it says what it made (so it dies amid
// their creates).
import { SandboxHost } from '../../dist/sandbox/index.js';

const cfg = JSON.parse(process.argv[2]);
const host = await SandboxHost.open({ dirs: cfg.dirs, spare: cfg.spare ?? 1, ...(cfg.liveRestore ? { liveRestore: cfg.liveRestore } : {}) });
for (const opts of cfg.before ?? []) {
  const s = await host.create(opts);
  await s.exited;
  await s.destroy();
}
const made = [];
for (const opts of cfg.sandboxes) {
  const s = await host.create(opts);
  await s.ready();
  s.stdout?.resume(); // read and dropped: what it writes once this process is dead is the test's
  made.push({ id: s.id, pid: s.pid, ip: s.ip, ioDir: s.ioDir });
}
for (const opts of cfg.inFlight ?? []) host.create(opts).catch(() => {});
const adopted = host.adopted().map((s) => s.id);
process.stdout.write(`${JSON.stringify({ spawner: host.spawnerPid, sandboxes: made, adopted })}\n`);
setInterval(() => {}, 1000);
