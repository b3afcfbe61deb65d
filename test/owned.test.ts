import t from 'tap';
import { isOwn, slotOfName } from './owned.js';

t.test("a resource's name says which test run made it", async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['wrntest', 0],
    ['wrntest-serve', 0],
    ['wrntest3', 0],
    ['wrntest-spares', 0],
    ['wrntest-spawner-death', 0],
    ['/var/tmp/wrntest-state', 0],
    ['/var/tmp/wrntest-state-wrntest-serve/registry.db', 0],
    ['wrntest-serve-s9', 9],
    ['/run/wrntest-pool-s12/io/abc', 12],
    ['/var/tmp/wrntest-state-s9-wrntest-serve', 9],
    ['/var/tmp/wrntest-state-s9', 9],
    ['wrnts9b3', 9],
    ['wrnts15b28', 15],
    ['wrnts9b38n2', 9], // a user network of slot 9's test bridge wrnts9b38
    ['wrntest38n1', 0],
    ['warren0', undefined],
    ['/var/lib/warren', undefined],
  ];
  for (const [name, slot] of cases) t.equal(slotOfName(name), slot, name);
});

t.test('the leak check of one run does not see another run beside it', async (t) => {
  const mount = '1234 33 0:77 / /run/wrntest-pool-s9/io/x rw,nosuid - tmpfs tmpfs rw';
  t.ok(isOwn(mount, 9), "slot 9's mount is slot 9's");
  t.notOk(isOwn(mount, 0), 'not the plain run\'s');
  t.ok(isOwn('/run/wrntest-pool/io/x', 0));
  t.notOk(isOwn('/run/warren/io/x', 0), 'warren\'s own are no test\'s');
  const volumeMount = '257 26 7:1 / /run/wrntest-vol-s2/volumes/data rw,nosuid,nodev,relatime - ext4 /dev/loop1 rw,discard';
  t.ok(isOwn(volumeMount, 2), "a test volume's host mount is its run's");
  t.notOk(isOwn(volumeMount, 3));
  const volumeLoop = '/dev/loop1: [65024]:15343686 (/var/tmp/wrntest-state-s2/volumes/data/data.img)';
  t.ok(isOwn(volumeLoop, 2), "a test volume's loop device is its run's");
  t.notOk(isOwn(volumeLoop, 0));
  t.ok(isOwn('7: wrnab12cd34ef56@if2: <BROADCAST> mtu 1500 master wrnts4b2 state UP', 4), "a veth on slot 4's bridge");
  t.ok(isOwn('8: wrnab12cd34ef57@if2: <BROADCAST> mtu 1500 master wrnts4b2n1 state UP', 4), "and on one of its networks' bridges");
  t.notOk(isOwn('wrnts14b2n1', 1), "slot 14's network is not slot 1's");
});
