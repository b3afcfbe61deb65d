/**
 * The root filesystem is copy-on-write: writes land in the sandbox's own upper layer, never in the
 * image, and no other sandbox sees them.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { imageLayerPaths } from '../../snapshots/index.js';
import { NEEDS_ROOT, probe, testDirs, warren } from './helpers.js';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

t.test('writes land in the upper, never in the base image; a second sandbox does not see them', { skip: NEEDS_ROOT }, async (t) => {
  await warren(['run', '--', 'node', '-e', '0']); // the image exists
  const layers = imageLayerPaths(testDirs().state, 'node');
  const passwd = layers.map((l) => path.join(l, 'etc/passwd')).find((f) => fs.existsSync(f)) as string;
  const before = sha(passwd);
  const name = `/etc/probe-${process.pid}`;

  const created = await probe<{ ok: boolean; errno: number }>([], ['write', name, 'mine']);
  t.ok(created.ok, `root inside may create ${name} in the image's /etc`);
  const appended = await probe<{ ok: boolean }>([], ['append', '/etc/passwd', 'intruder:x:0:0::/:/bin/sh\n']);
  t.ok(appended.ok, 'root inside may change an image file');
  const removed = await probe<{ ok: boolean }>([], ['unlink', '/etc/nsswitch.conf']);
  t.ok(removed.ok, 'root inside may delete an image file');

  for (const layer of layers) t.notOk(fs.existsSync(path.join(layer, name)), `the new file is not in layer ${path.basename(layer)}`);
  t.equal(sha(passwd), before, "the image's /etc/passwd is unchanged");
  const other = await probe<{ ok: boolean; errno: number }>([], ['read', name]);
  t.notOk(other.ok, 'another sandbox does not see the file');
  t.equal(other.errno, 2);
  const otherPasswd = await probe<{ text: string }>([], ['read', '/etc/passwd']);
  t.notMatch(otherPasswd.text, /intruder/);
  const hosts = await probe<{ ok: boolean }>([], ['read', '/etc/nsswitch.conf']);
  t.ok(hosts.ok, 'the deleted file is still there for others');
});

t.test('the image cannot be changed through the sandbox even by a node program', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['run', '--', 'node', '-e', 'const fs=require("fs"); fs.unlinkSync("/usr/local/bin/node"); fs.writeFileSync("/usr/local/bin/node", "x"); console.log(fs.statSync("/usr/local/bin/node").size)']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), '1', 'inside, the running binary was deleted and replaced');
  const again = await warren(['run', '--', 'node', '-e', 'console.log("still runs")']);
  t.equal(again.stdout.trim(), 'still runs', "the image's node binary is intact");
});
