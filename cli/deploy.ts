/**
 * `warren deploy [DIR|ENTRY]`: the project's config read (deploy/config.ts), its entry bundled
 * (deploy/bundle.ts), the bundle uploaded through the control API (client/). The server loads the
 * new version in a sandbox before any traffic moves to it: a module that does not load is refused
 * (WARREN_DEPLOY_LOAD) and the live version keeps serving.
 *
 * Output: progress on a terminal (stderr), nothing of it in a pipe; the result on stdout, or with
 * --json one JSON object (on failure too: {"error", "code"}). Exit codes: cli/exit-codes.ts.
 */
import path from 'node:path';
import { ControlClient, resolveConnection, type Released } from '../client/index.js';
import { bundle, loadProject, type Bundle, type Project } from '../deploy/index.js';
import { isWarrenError } from '../lib/errors.js';
import { clientExitCode, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { deployRequest, parseDeployArgs, type DeployArgs } from './deploy-args.js';

export const DEPLOY_USAGE = `usage: warren deploy [DIR|ENTRY] [options]
  reads warren.toml, or wrangler.toml / wrangler.json / wrangler.jsonc, in DIR (default: here);
  bundles its main module with esbuild; deploys it to a warren server
  --name N              the function's name (default: the config's name)
  --env NAME            the config's [env.NAME] section, as wrangler's --env
  --var K=V             a var in env (repeatable; over the config's vars)
  --env-file F          vars from a KEY=VALUE file (repeatable; --var wins)
  --memory SIZE         memory of an instance (e.g. 128m)
  --cpus N              its CPU quota in cores
  --timeout D           a request's wall time at most (500ms, 30s, 2m)
  --concurrency N       requests one instance serves at once
  --egress none|public|CIDR,...  what the function may reach
  --server URL --token T  the control API (default: WARREN_URL / WARREN_TOKEN, or the local server)
  --json                one JSON object on stdout, no progress
exit codes: 0 deployed, 1 refused (config, build, load: the live version keeps serving), 2 usage,
  3 warren failed (server unreachable, platform fault)
`;

export interface Deployed extends Released {
  bundleBytes: number;
  buildMs: number;
  deployMs: number;
}

export async function deploy(argv: readonly string[]): Promise<number> {
  let args: DeployArgs | undefined;
  try {
    args = parseDeployArgs(argv);
    if (args.help) {
      process.stdout.write(DEPLOY_USAGE);
      return EXIT_OK;
    }
    const progress = !args.json && process.stderr.isTTY ? (line: string) => process.stderr.write(`${line}\n`) : () => {};
    const project = loadProject(args.target, { env: args.env });
    for (const note of project.notes) progress(`note: ${note}`);
    const built = await buildProject(project, progress);
    const client = new ControlClient(resolveConnection({ server: args.server, token: args.token }));
    const result = await upload(client, project, args, built, progress);
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...result, notes: project.notes, warnings: built.warnings, ...(project.compatibilityDate ? { compatibilityDate: project.compatibilityDate } : {}) }) + '\n');
    } else {
      process.stdout.write(
        `deployed ${result.name} version ${result.version}\n` +
          `  url     ${result.url}\n` +
          `  bundle  ${kib(result.bundleBytes)} (built in ${result.buildMs} ms)\n` +
          `  deploy  ${result.deployMs} ms\n`,
      );
    }
    return EXIT_OK;
  } catch (err) {
    return failed('deploy', err, args?.json ?? false);
  }
}

/** Bundles the project's entry, saying so on a terminal. */
export async function buildProject(project: Project, progress: (line: string) => void): Promise<Bundle> {
  progress(`building ${path.relative(process.cwd(), project.main) || project.main}`);
  const built = await bundle(project.main, { dir: project.dir, define: project.define, alias: project.alias });
  for (const w of built.warnings) progress(w);
  progress(`built ${kib(built.bytes)} in ${built.ms} ms`);
  return built;
}

export async function upload(client: ControlClient, project: Project, args: DeployArgs, built: Bundle, progress: (line: string) => void): Promise<Deployed> {
  const { name, body } = deployRequest(project, args, built.code);
  progress(`deploying ${name} to ${client.url}`);
  const started = performance.now();
  const released = await client.deploy(name, body);
  const deployMs = Math.round(performance.now() - started);
  return { name: released.name, version: released.version, url: reachable(released.url, client.url), bundleBytes: built.bytes, buildMs: built.ms, deployMs };
}

/** A server listening on every address answers with 0.0.0.0: the host the client reached is the one to print. */
function reachable(url: string, controlUrl: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = new URL(controlUrl).hostname;
  return u.href;
}

/** Prints a failure as a user reads it, and its exit code. */
export function failed(command: string, err: unknown, json: boolean): number {
  const code = clientExitCode(err);
  const message = isWarrenError(err) ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  const live = isWarrenError(err, 'WARREN_DEPLOY_LOAD') ? '\n(the live version, if any, keeps serving)' : '';
  if (json) process.stdout.write(JSON.stringify({ error: message, code: isWarrenError(err) ? err.code : null, exitCode: code }) + '\n');
  process.stderr.write(`warren ${command}: ${message}${live}\n${code === EXIT_USAGE ? `(warren ${command} --help for its options)\n` : ''}`);
  return code;
}

export function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}
