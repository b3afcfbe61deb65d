/**
 * `warren secret put NAME KEY`, `warren secret rm NAME KEY`, `warren secret ls NAME`. A value
 * never travels in argv (other users see it in ps, shells keep it in history): `put` reads it
 * from stdin when stdin is not a terminal (one trailing newline dropped, as `echo` adds one), and
 * else asks for it with echo off. Nothing here ever prints a value.
 */
import { ENV_KEY } from '../router/control.js';
import { WarrenError } from '../lib/errors.js';
import { parseClientArgs, usageError, type ClientArgs } from './client-args.js';
import { clientMain, connect, printJson } from './client-command.js';
import { EXIT_OK } from './exit-codes.js';
import { readHidden, type RawInput } from './prompt.js';

export const SECRET_USAGE = 'warren secret put NAME KEY | secret rm NAME KEY | secret ls NAME [--json] [--server URL] [--token T]';

export type SecretArgs =
  | { args: ClientArgs; verb: 'put' | 'rm'; name: string; key: string }
  | { args: ClientArgs; verb: 'ls'; name: string }
  | { args: ClientArgs; verb: 'help' };

export function parseSecretArgs(argv: readonly string[]): SecretArgs {
  const [verb, ...rest] = argv;
  if (verb === undefined) usageError('missing command', SECRET_USAGE);
  if (verb === '--help' || verb === '-h' || verb === 'help') return { args: parseClientArgs([], SECRET_USAGE, { min: 0, max: 0 }), verb: 'help' };
  if (verb !== 'put' && verb !== 'rm' && verb !== 'ls') usageError(`unknown secret command '${verb}': expected put, rm or ls`, SECRET_USAGE);
  const n = verb === 'ls' ? 1 : 2;
  const args = parseClientArgs(rest, SECRET_USAGE, { min: n, max: n });
  if (args.help) return { args, verb: 'help' };
  const [name = '', key = ''] = args.positionals;
  if (verb === 'ls') return { args, verb, name };
  if (!ENV_KEY.test(key)) usageError(`invalid secret name '${key}': letters, digits and '_', not starting with a digit`, SECRET_USAGE);
  return { args, verb, name, key };
}

/** The value from a pipe, or typed at the terminal without echo. */
async function readValue(key: string): Promise<string> {
  let value: string;
  if (process.stdin.isTTY) {
    value = await readHidden(`value of ${key} (not shown): `, process.stdin as unknown as RawInput, process.stderr);
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  if (value === '') throw new WarrenError('WARREN_ARG_INVALID', `no value for secret '${key}': give it on stdin or type it at the prompt`);
  return value;
}

export function secret(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const a = parseSecretArgs(argv);
    if (a.verb === 'help') {
      process.stdout.write(`usage: ${SECRET_USAGE}\n`);
      return EXIT_OK;
    }
    if (a.verb === 'ls') {
      const names = await connect(a.args).secretNames(a.name);
      if (a.args.json) printJson(names);
      else if (names.length) process.stdout.write(names.join('\n') + '\n');
      return EXIT_OK;
    }
    const client = connect(a.args);
    if (a.verb === 'put') {
      // the function first: no prompt for a value that has nowhere to go
      await client.get(a.name);
      await client.putSecret(a.name, a.key, await readValue(a.key));
    } else {
      await client.deleteSecret(a.name, a.key);
    }
    const did = a.verb === 'put' ? 'set' : 'removed';
    if (a.args.json) printJson({ name: a.name, key: a.key, [did]: true });
    // the service drains the instances that had the old env: the next request sees the change
    else process.stdout.write(`${a.name}: secret ${a.key} ${did}\n`);
    return EXIT_OK;
  });
}
