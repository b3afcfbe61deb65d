/**
 * The `warren` command. cli/ is the only place that wires modules together.
 */
import { errorText } from './error-text.js';

const USAGE = `usage: warren <command> [options]

commands:
  serve [options]       the function platform: data plane, control API, pool (warren serve --help)
  deploy [DIR|ENTRY] [options]  bundle a Workers project (wrangler.toml or warren.toml) and deploy
                        it to a warren server (warren deploy --help)
  dev [DIR|ENTRY] [options]     a local server that redeploys the project on every save
                        (warren dev --help)

functions (on a running server; each takes --server URL --token T --json, and --help):
  ls                    deployed functions: live version, when, how many secrets, URL
  rm NAME...            remove functions (their versions, secrets and logs)
  versions NAME         a function's versions, the live one marked
  rollback NAME [VERSION]  back to VERSION, or to the version before the live one
  logs NAME [-f|--follow]  log lines: time, version, instance, request id, stream, text
  invoke NAME [PATH] [-X METHOD] [-H 'K: V']... [-d|--data @FILE|-|TEXT] [-i] [--fail]
                        one request to the function; its body on stdout (-i: status and headers too)
  secret put NAME KEY   set a secret (the value from stdin, or typed with echo off; never a flag)
  secret rm NAME KEY | secret ls NAME
  exit codes: 0 done, 1 refused (unknown function, bad token...), 2 usage, 3 warren failed or unreachable

sandboxes:
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
      -v, --volume NAME:/inside[:ro]   named volume, made on first use (repeatable)
      --net none|bridge|NAME  loopback only (default), a veth on the bridge, or on network NAME
      --name N          the sandbox's name: on a network, others reach it by it
      --network-alias A another name on its network (repeatable)
      --egress none|public|CIDR,...  what a bridged sandbox may reach (default none)
      -p, --publish HOSTPORT:PORT[/udp]  publish a sandbox port on the host
      -i, --interactive pass stdin
      --keep            keep the sandbox's changes after it exits (needs --name)
  commit NAME IMAGE     make a kept sandbox's changes a new image (a layer on its image)
  kept rm NAME...       drop a kept sandbox's changes
  kept ls [--json]      kept sandboxes: name, image, created
  volume create [--size SIZE] [--inodes N] NAME
                        a named volume, capped at SIZE (default 1g) and N files (default one per 16 KiB)
  volume ls [--json]    volumes: name, size, used on disk, sandboxes using it, created
  volume inspect NAME...  volumes' details as JSON, with the file holding each one's data
  volume rm NAME...     remove volumes and their data (refused while a sandbox uses one)
  volume prune [-f]     remove every volume no sandbox uses, and its data (asks first; -f does not)
  image import [--max-size SIZE] NAME FILE
                        a root fs tarball (.tar, .tar.gz or /dev/stdin) becomes image NAME
                        (--max-size: compressed and uncompressed limit, default 2g)
  image ls [--json]     list images: name, layers, size on disk, created
  image rm NAME         remove an image (its layers stay until image gc)
  image gc [--now]      remove layers no image uses (--now: even those younger than 60 s)
  network create NAME [--subnet CIDR] [--internal]
                        a network whose sandboxes reach each other, by address and name
                        (--internal: no egress); network ls [--json]; network rm NAME...
  bench spawn [options] spawn latency and rate against unshare and crun (warren bench --help)
  gc                    remove what a crashed warren left behind (volumes' data stays)
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
    case 'kept':
      return (await import('./kept.js')).kept(rest);
    case 'ls':
      return (await import('./functions.js')).ls(rest);
    case 'rm':
      return (await import('./functions.js')).rm(rest);
    case 'versions':
      return (await import('./functions.js')).versions(rest);
    case 'rollback':
      return (await import('./functions.js')).rollback(rest);
    case 'logs':
      return (await import('./logs.js')).logs(rest);
    case 'invoke':
      return (await import('./invoke.js')).invoke(rest);
    case 'secret':
      return (await import('./secret.js')).secret(rest);
    case 'image':
      return (await import('./image.js')).image(rest);
    case 'volume':
      return (await import('./volume.js')).volume(rest);
    case 'network':
      return (await import('./network.js')).network(rest);
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
    process.stderr.write(`warren: ${errorText(err)}\n`);
    process.exitCode = EXIT_WARREN_ERROR;
  },
);
