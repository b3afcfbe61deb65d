/**
 * The `warren` command. cli/ is the only place that wires modules together.
 */
import { messageOf } from '../lib/cleanup.js';
import { isWarrenError } from '../lib/errors.js';

const USAGE = `usage: warren <command> [options]

commands:
  serve [options]       the function platform: data plane, control API, pool (warren serve --help)
  deploy [DIR|ENTRY] [options]  bundle a Workers project (wrangler.toml or warren.toml) and deploy
                        it to a warren server (warren deploy --help)
  dev [DIR|ENTRY] [options]     a local server that redeploys the project on every save
                        (warren dev --help)
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
      --net none|bridge loopback only (default), or a veth on the bridge
      --egress none|public|CIDR,...  what a bridged sandbox may reach (default none)
      -p, --publish HOSTPORT:PORT[/udp]  publish a sandbox port on the host
      -i, --interactive pass stdin
      --name N --keep   keep the sandbox's changes after it exits
  commit NAME IMAGE     make a kept sandbox's changes a new image (a layer on its image)
  rm NAME...            drop a kept sandbox's changes
  image import [--max-size SIZE] NAME FILE
                        a root fs tarball (.tar, .tar.gz or /dev/stdin) becomes image NAME
                        (--max-size: compressed and uncompressed limit, default 2g)
  image ls [--json]     list images: name, layers, size on disk, created
  image rm NAME         remove an image (its layers stay until image gc)
  image gc [--now]      remove layers no image uses (--now: even those younger than 60 s)
  bench spawn [options] spawn latency and rate against unshare and crun (warren bench --help)
  gc                    remove what a crashed warren left behind
`;

/** docker run's convention: 125 when warren itself failed, not the command. */
const EXIT_WARREN_ERROR = 125;

// Each command is loaded when it is asked for: `warren run` is a start-up path, and loading every
// command's modules (bench, image import...) cost it tens of milliseconds.
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      if (rest.includes('--help')) {
        process.stdout.write((await import('./serve-args.js')).SERVE_USAGE);
        return 0;
      }
      return (await import('./serve.js')).serve(rest);
    case 'run':
      return (await import('./run.js')).run(rest);
    case 'deploy':
      return (await import('./deploy.js')).deploy(rest);
    case 'dev':
      return (await import('./dev.js')).dev(rest);
    case 'gc':
      return (await import('./gc.js')).gc(rest);
    case 'commit':
      return (await import('./kept.js')).commit(rest);
    case 'rm':
      return (await import('./kept.js')).rm(rest);
    case 'image':
      return (await import('./image.js')).image(rest);
    case 'bench':
      return (await import('./bench.js')).bench(rest);
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
    // a platform fault's message with the causes it wraps (an errno, the kernel's word), which the
    // message alone would hide; a user's fault says all there is to say (the image is unknown);
    // anything else is a bug of warren's: its stack
    const message = isWarrenError(err) ? (err.fault === 'user' ? err.message : messageOf(err)) : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`warren: ${message}\n`);
    process.exitCode = EXIT_WARREN_ERROR;
  },
);
