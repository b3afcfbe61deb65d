/**
 * `warren commit NAME IMAGE`, like `docker commit`: a kept sandbox's upper becomes a new layer on
 * top of the layers it ran on. Ownership goes back from the sandbox's host uid range to 0-based ids
 * (an id outside the range becomes nobody), and overlay's marks stay as they are: whiteouts for
 * deleted files and opaque dirs, so a deletion in the sandbox stays a deletion in the image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeImage, type Image } from './image.js';
import { keptDir, readKept } from './kept.js';
import { isOpaque, isWhiteout, makeWhiteout, markOpaque } from './overlay-marks.js';
import { LayerStore } from './store.js';

const RANGE = 65536;
const NOBODY = 65534;

function shift(id: number, base: number): number {
  if (id === 0) return 0; // overlay made it with the mounter's creds: whiteouts, copied-up dirs
  return id >= base && id < base + RANGE ? id - base : NOBODY;
}

async function copyUpper(src: string, dst: string, base: number): Promise<void> {
  for (const name of fs.readdirSync(src)) {
    const from = path.join(src, name);
    const to = path.join(dst, name);
    const st = fs.lstatSync(from);
    const mode = st.mode & 0o1777; // never setuid or setgid in an image
    if (st.isDirectory()) {
      fs.mkdirSync(to);
      if (isOpaque(from)) markOpaque(to);
      await copyUpper(from, to, base);
      fs.chmodSync(to, mode);
    } else if (st.isFile()) {
      fs.copyFileSync(from, to);
      fs.chmodSync(to, mode);
    } else if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
    } else if (isWhiteout(st)) {
      makeWhiteout(to);
    } else {
      continue; // fifos and sockets are not part of an image, as docker commit drops sockets
    }
    fs.lchownSync(to, shift(st.uid, base), shift(st.gid, base));
  }
}

export async function commitKept(stateDir: string, name: string, image: string): Promise<Image> {
  const kept = readKept(stateDir, name);
  const upper = path.join(keptDir(stateDir, name), 'upper');
  const digest = await new LayerStore(stateDir).add((dir) => copyUpper(upper, dir, kept.uidBase));
  const committed: Image = { name: image, layers: [digest, ...kept.layers], created: new Date().toISOString() };
  await writeImage(stateDir, committed);
  return committed;
}
