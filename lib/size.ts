/** Docker-style sizes: "64m", "1g", "512k", "1048576" (bytes). */
import { WarrenError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?$/i.exec(text.trim());
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  const n = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(n) || n <= 0) {
    throw new WarrenError('WARREN_ARG_SIZE', `invalid ${what} '${text}': expected a size such as 64m or 1g`);
  }
  return n;
}

export function formatMiB(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}
