import { PassThrough } from 'node:stream';
import t from 'tap';
import { readHidden, type RawInput } from './prompt.js';

function terminal(): { input: RawInput & PassThrough; output: PassThrough; shown: () => string; modes: boolean[] } {
  const modes: boolean[] = [];
  const input = Object.assign(new PassThrough(), { isRaw: false, setRawMode: (raw: boolean) => modes.push(raw) });
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => (shown += d));
  return { input, output, shown: () => shown, modes };
}

t.test('what is typed is read without being shown, and the terminal is given back', async (t) => {
  const term = terminal();
  const value = readHidden('value: ', term.input, term.output);
  term.input.write('s3cx');
  term.input.write('\u007fret\r');
  t.equal(await value, 's3cret', 'backspace erases');
  t.equal(term.shown(), 'value: \n', 'nothing typed is echoed');
  t.same(term.modes, [true, false], 'raw mode on, then back off');
});

t.test('Ctrl-C cancels and gives the terminal back', async (t) => {
  const term = terminal();
  const value = readHidden('value: ', term.input, term.output);
  term.input.write('abc\u0003');
  await t.rejects(value, { code: 'WARREN_ARG_CANCELLED' });
  t.same(term.modes, [true, false]);
});

t.test('echo is off before the prompt shows, so a value typed at once is never echoed', async (t) => {
  const events: string[] = [];
  const input = Object.assign(new PassThrough(), { isRaw: false, setRawMode: (raw: boolean) => events.push(`raw ${raw}`) });
  const output = new PassThrough();
  output.on('data', (d: Buffer) => events.push(`shown ${JSON.stringify(String(d))}`));
  const origWrite = output.write.bind(output);
  output.write = ((chunk: string) => {
    events.push(`write ${JSON.stringify(chunk)}`);
    return origWrite(chunk);
  }) as typeof output.write;
  const value = readHidden('value: ', input, output);
  input.write('x\r');
  await value;
  t.same(events.filter((e) => e.startsWith('raw') || e.startsWith('write')).slice(0, 2), ['raw true', 'write "value: "']);
});
