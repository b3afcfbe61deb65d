/**
 * The `warren` command. cli/ is the only place that wires modules together.
 */
import { isWarrenError } from '../lib/errors.js';
import { gc } from './gc.js';
import { run } from './run.js';

const USAGE = `usage: warren <command> [options]

commands:
  run [options] [--] COMMAND [ARGS...]   run a command in a fresh sandbox
      --image NAME      image (default node)
      -m, --memory SIZE memory limit, swap included (default 256m)
      --cpus N          CPU quota in cores (default 1)
      --pids N          process limit (default 256)
      --tmpfs SIZE      size of the writable layer (default 64m)
      -h, --hostname H  hostname inside
      -e, --env K=V     environment variable (repeatable)
      -w, --workdir DIR working directory inside
      -v, --volume /host:/inside[:ro]  bind mount (repeatable)
      -i, --interactive pass stdin
  gc                  remove what a crashed warren left behind
`;

/** docker run's convention: 125 when warren itself failed, not the command. */
const EXIT_WARREN_ERROR = 125;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'gc':
      return gc(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`warren: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = isWarrenError(err) ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`warren: ${message}\n`);
    process.exitCode = EXIT_WARREN_ERROR;
  },
);
