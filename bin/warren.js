#!/usr/bin/env node
// The installed entry: the package's install script (and `npm run build`) bundles the CLI into
// dist/warren/ (scripts/bundle-cli.mjs says why).
import('../dist/warren/main.js').catch((err) => {
  process.stderr.write(`warren: cannot start: ${err && err.message}\n(run 'npm ci' to build warren)\n`);
  process.exit(125);
});
