/**
 * A line typed at a terminal without echo (a secret's value): the terminal in raw mode, so no
 * character is shown, and given back as it was whatever happens.
 */
import { WarrenError } from '../lib/errors.js';

export interface RawInput extends NodeJS.ReadableStream {
  setRawMode(raw: boolean): unknown;
  isRaw?: boolean;
}

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const CTRL_U = '\u0015';
const BACKSPACE = ['\u007f', '\b'];

/** Reads one line from `input` with echo off; Enter ends it, Ctrl-C cancels (WARREN_ARG_CANCELLED). */
export function readHidden(prompt: string, input: RawInput, output: NodeJS.WritableStream): Promise<string> {
  // Echo goes off before the prompt shows: a value typed as soon as the prompt appears (or typed
  // ahead) would otherwise be echoed by the terminal in the moment between the two.
  const wasRaw = input.isRaw ?? false;
  input.setRawMode(true);
  output.write(prompt);
  input.resume();
  let value = '';
  return new Promise<string>((resolve, reject) => {
    const done = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n' || ch === CTRL_D) return done();
        if (ch === CTRL_C) return done(new WarrenError('WARREN_ARG_CANCELLED', 'cancelled: nothing was set'));
        if (BACKSPACE.includes(ch)) value = value.slice(0, -1);
        else if (ch === CTRL_U) value = '';
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}
