import { open } from 'node:fs/promises';

/** A rename or unlink in `dir` survives power loss only once the dir itself is synced. */
export async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
