/** What the pool's tests give it for its logs and metrics: output drained, reports kept. */
import type { Readable } from 'node:stream';
import type { Logs } from '../../runner/index.js';

export class TestLogs implements Logs {
  readonly lines: string[] = [];
  attach(stream: Readable): void {
    stream.resume();
  }
  report(meta: { fn: string }, text: string): void {
    this.lines.push(`${meta.fn}: ${text}`);
  }
}

export const observer = { started() {}, warm() {}, refused() {}, finished() {} };
