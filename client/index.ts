/**
 * client/: what CLI commands use to talk to a running `warren serve` through its control API.
 */
export { ControlClient, type DeployBody, type FunctionAnswer, type Released } from './control-client.js';
export { localUrl, reachableUrl, readServerInfo, resolveConnection, writeServerInfo, SERVER_FILE, type Connection, type ConnectionFlags, type ServerInfo } from './connection.js';
