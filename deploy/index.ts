/**
 * deploy/: a Workers project (warren.toml, or wrangler's config) read and bundled into the one ES
 * module the control API takes. cli/deploy.ts and cli/dev.ts wire it to the client.
 */
export { loadProject, type LoadOptions, type Project } from './config.js';
export { CONFIG_FILES } from './config-file.js';
export { durationMs, type ProjectLimits } from './limits.js';
export { buildError, buildOptions, bundle, Bundler, formatMessage, toBundle, CONDITIONS, type Bundle, type BundleOptions } from './bundle.js';
