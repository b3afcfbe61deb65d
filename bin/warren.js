#!/usr/bin/env node
// The installed entry: the CLI is compiled to dist/ by the package's install script.
import('../dist/cli/main.js').catch((err) => {
  process.stderr.write(`warren: cannot start: ${err && err.message}\n(run 'npm ci' to build warren)\n`);
  process.exit(125);
});
