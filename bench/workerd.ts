/**
 * workerd (Cloudflare's runtime, npm package `workerd`) as a baseline: found when installed in
 * the package's node_modules or on PATH. It is not a dependency of warren (its binary is large,
 * and the bench runs without it); `npm install --no-save workerd` in warren's directory adds it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { which } from './baselines/unshare.js';

export function findWorkerd(): string | undefined {
  const local = path.join(packageRoot(import.meta.url), 'node_modules', '.bin', 'workerd');
  return fs.existsSync(local) ? local : which('workerd');
}

/** The note for a scenario that has no workerd row yet. */
export function workerdNote(scenario: string): string {
  const bin = findWorkerd();
  return bin
    ? `workerd is installed (${bin}) but the ${scenario} scenario has no workerd row yet: it is not measured.`
    : `workerd is not installed (npm install --no-save workerd in warren's directory): its row is missing.`;
}
