/**
 * Which test run a resource's name belongs to. Every name a test makes starts with `wrntest`
 * (dirs, cgroups, netns, links, tables) or, for a WRNTEST_SLOT run, carries its slot: `-sN` in a
 * `wrntest` name (`wrntest-serve-s9`, `/var/tmp/wrntest-state-s9-...`) or the `wrntsNb` prefix of
 * its bridges and tables. The leak check (test/leaks.ts) looks only at its own run's names, so a
 * run beside it (another worktree's slot) neither fails it nor loses its resources to it.
 */

/** The slot a test resource's name belongs to (0: a run without WRNTEST_SLOT), or undefined when
 * the name is no test's. */
export function slotOfName(name: string): number | undefined {
  const bridge = /(?:^|[^a-z0-9])wrnts(\d+)b\d+/.exec(name) ?? /^wrnts(\d+)b\d+$/.exec(name);
  if (bridge) return Number(bridge[1]);
  const at = name.indexOf('wrntest');
  if (at < 0) return undefined;
  const tagged = /-s(\d+)(?=$|[^0-9a-z])/.exec(name.slice(at));
  return tagged ? Number(tagged[1]) : 0;
}

/** This process's run: WRNTEST_SLOT, or 0. */
export function ownSlot(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.WRNTEST_SLOT ?? 0) || 0;
}

/** Whether `text` (a name, a path, a mountinfo or ps line) names a resource of run `slot`: the
 * first test name in it decides. */
export function isOwn(text: string, slot = ownSlot()): boolean {
  const name = /[^\s,=:@]*wrnt(?:est|s\d+b)[^\s,=:@]*/.exec(text)?.[0];
  return name !== undefined && slotOfName(name) === slot;
}
