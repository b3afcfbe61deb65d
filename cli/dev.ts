/**
 * `warren dev [DIR|ENTRY]`: a local warren of its own (dev-server.ts) serving the project, rebuilt
 * and redeployed on every save (dev-watch.ts sees it; esbuild's incremental context rebuilds).
 * A build that fails prints its errors with file:line:column and deploys nothing; a module that
 * does not load is refused by the server: either way the last good version keeps serving. The
 * function's console output follows on stdout. Ctrl-C (SIGINT, or SIGTERM) stops the watcher,
 * the builder and the server, which destroys every sandbox it made.
 *
 * One cycle (config, build, deploy) runs at a time; a save during one makes one more after it.
 */
import path from 'node:path';
import { ControlClient, type Connection } from '../client/index.js';
import { Bundler, loadProject, type Bundle, type Project } from '../deploy/index.js';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { failed, kib } from './deploy.js';
import { deployRequest, parseDeployArgs, type DeployArgs } from './deploy-args.js';
import { DEV_DEFAULTS, startDevServer, type DevServer, type DevServerOptions } from './dev-server.js';
import { SourceWatcher } from './dev-watch.js';
import { EXIT_OK } from './exit-codes.js';

export const DEV_USAGE = `usage: warren dev [DIR|ENTRY] [options]
  serves the project on a local warren of its own, and redeploys it on every save
  --name N --env NAME --var K=V --env-file F --memory --cpus --timeout --concurrency --egress
                        as warren deploy (warren deploy --help)
  --port N              the data plane's port (default ${DEV_DEFAULTS.port}, as wrangler dev)
  --control-port N      the dev server's control API (default ${DEV_DEFAULTS.controlPort})
  --state-dir DIR       its state: registry, node image, logs (default ${DEV_DEFAULTS.stateDir})
  --run-dir DIR         its run files (default ${DEV_DEFAULTS.runDir})
  Ctrl-C stops it all. Needs root, as warren serve.
`;

const OWN_FLAGS = ['--port', '--control-port', '--state-dir', '--run-dir'];

export async function dev(argv: readonly string[]): Promise<number> {
  let server: DevServer | undefined;
  let session: DevSession | undefined;
  try {
    const args = parseDeployArgs(argv, OWN_FLAGS);
    if (args.help) {
      process.stdout.write(DEV_USAGE);
      return EXIT_OK;
    }
    if (args.json || args.server !== undefined || args.token !== undefined) {
      throw new WarrenError('WARREN_ARG_INVALID', 'warren dev runs a server of its own: --server, --token and --json are for warren deploy');
    }
    const opts = serverOptions(args.extra);
    const project = loadProject(args.target, { env: args.env });
    // from here Ctrl-C is a stop, not a kill: what was started is stopped
    const stopped = signalled();
    say(`starting a dev server (state in ${opts.stateDir})`);
    server = await startDevServer(opts);
    session = new DevSession(args, project, { url: server.controlUrl, token: server.token }, server.dataUrl);
    await session.start();
    const why = await Promise.race([stopped, server.died.then((out) => `the dev server ended by itself:\n${out.trim()}`)]);
    if (!why.startsWith('SIG')) throw new WarrenError('WARREN_DEV_SERVER', why);
    say(`${why}: stopping`);
    return EXIT_OK;
  } catch (err) {
    return failed('dev', err, false);
  } finally {
    await session?.close();
    await server?.stop();
  }
}

function serverOptions(extra: Record<string, string>): DevServerOptions {
  const port = (flag: string, fallback: number): number => {
    const text = extra[flag];
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new WarrenError('WARREN_ARG_INVALID', `${flag} '${text}' is not a port`);
    return Number(text);
  };
  return {
    port: port('--port', DEV_DEFAULTS.port),
    controlPort: port('--control-port', DEV_DEFAULTS.controlPort),
    stateDir: path.resolve(extra['--state-dir'] ?? DEV_DEFAULTS.stateDir),
    runDir: path.resolve(extra['--run-dir'] ?? DEV_DEFAULTS.runDir),
  };
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

function say(line: string): void {
  process.stdout.write(`warren dev: ${line}\n`);
}

class DevSession {
  readonly #args: DeployArgs;
  readonly #client: ControlClient;
  readonly #dataUrl: string;
  readonly #watcher: SourceWatcher;
  readonly #logs = new AbortController();
  #project: Project;
  #bundler: Bundler | undefined;
  #lastCode: string | undefined;
  #live: number | undefined;
  #configChanged = false;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(args: DeployArgs, project: Project, conn: Connection, dataUrl: string) {
    this.#args = args;
    this.#project = project;
    this.#client = new ControlClient(conn);
    this.#dataUrl = dataUrl;
    this.#watcher = new SourceWatcher((files) => this.#changed(files));
  }

  /** A dev session needs no name: the project's dir names it when nothing else does. */
  get #name(): string {
    return this.#args.name ?? this.#project.name ?? path.basename(this.#project.dir);
  }

  async start(): Promise<void> {
    for (const note of this.#project.notes) say(`note: ${note}`);
    this.#watchProject([]);
    await this.#cycle();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher.close();
    this.#logs.abort();
    await this.#running;
    await this.#bundler?.close();
  }

  #changed(files: string[]): void {
    const config = this.#project.configFile;
    if (config !== undefined && files.includes(config)) this.#configChanged = true;
    say(`${files.map((f) => path.relative(this.#project.dir, f) || f).join(', ')} changed`);
    void this.#cycle();
  }

  /** Runs one cycle now, or one more after the one running. */
  async #cycle(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        if (!this.#closed) await this.#once();
      } while (this.#again);
    })();
    await this.#running;
    this.#running = undefined;
  }

  async #once(): Promise<void> {
    const still = this.#live === undefined ? 'nothing deployed yet' : `version ${this.#live} still serving`;
    if (this.#configChanged || this.#bundler === undefined) {
      this.#configChanged = false;
      if (!(await this.#reload(still))) return;
    }
    let built: Bundle;
    try {
      built = await (this.#bundler as Bundler).build();
    } catch (err) {
      process.stderr.write(`warren dev: ${isWarrenError(err) ? err.message : String(err)}\n(${still}; waiting for a change)\n`);
      return;
    }
    this.#watchProject(built.inputs);
    if (built.code === this.#lastCode) return; // a save that changed nothing the bundle holds
    try {
      const { name, body } = deployRequest(this.#project, { ...this.#args, name: this.#name }, built.code);
      const started = performance.now();
      const released = await this.#client.deploy(name, body);
      this.#lastCode = built.code;
      const timing = `built ${kib(built.bytes)} in ${built.ms} ms, deployed in ${Math.round(performance.now() - started)} ms`;
      if (this.#live === undefined) {
        void this.#followLogs(name);
        say(`serving ${this.#dataUrl}/${name}/ and http://${name}.localhost:${new URL(this.#dataUrl).port}/ (version ${released.version}; ${timing})`);
      } else {
        say(`version ${released.version} live (${timing})`);
      }
      this.#live = released.version;
    } catch (err) {
      process.stderr.write(`warren dev: ${isWarrenError(err) ? err.message : String(err)}\n(${still})\n`);
    }
  }

  /** Reads the config again (a save of wrangler.toml); a new entry module makes a new bundler. */
  async #reload(still: string): Promise<boolean> {
    let project = this.#project;
    if (this.#bundler !== undefined) {
      try {
        project = loadProject(this.#args.target, { env: this.#args.env });
      } catch (err) {
        process.stderr.write(`warren dev: ${isWarrenError(err) ? err.message : String(err)}\n(${still})\n`);
        return false;
      }
    }
    const rebuild = this.#bundler === undefined || project.main !== this.#project.main || JSON.stringify([project.define, project.alias]) !== JSON.stringify([this.#project.define, this.#project.alias]);
    this.#project = project;
    this.#lastCode = undefined; // vars or limits may have changed: deploy again
    if (rebuild) {
      await this.#bundler?.close();
      this.#bundler = await Bundler.create(project.main, { dir: project.dir, define: project.define, alias: project.alias });
    }
    return true;
  }

  /** The build's own sources, the entry's dir (a file the next build may import) and the config. */
  #watchProject(inputs: readonly string[]): void {
    const p = this.#project;
    this.#watcher.watch([...inputs, p.main, ...(p.configFile ? [p.configFile] : [])]);
  }

  /** The function's console output, as it comes (lines from before this session are skipped). */
  async #followLogs(name: string): Promise<void> {
    const since = new Date().toISOString();
    try {
      for await (const line of this.#client.logs(name, { follow: true, signal: this.#logs.signal })) {
        if (line.time < since) continue;
        const out = line.stream === 'stderr' ? process.stderr : process.stdout;
        out.write(`[${name} v${line.version}${line.requestId ? ` ${line.requestId}` : ''}] ${line.text.replace(/\n$/, '')}\n`);
      }
    } catch (err) {
      // a Ctrl-C reaches the server too, which may end the stream before this session hears of
      // it: a stream that ends as the session closes is no news
      await new Promise((r) => setTimeout(r, 1000).unref());
      if (!this.#closed) process.stderr.write(`warren dev: the function's logs stopped: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}
