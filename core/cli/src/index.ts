/**
 * @packageDocumentation
 * `@rustynet/cli`: the `rustynet` and `rustynetd` programs, also usable as a library (the demo
 * and tests drive them in-process or as child processes).
 */
export { createRustynetProgram, runCli } from './rustynet.js';
export { createRustynetdProgram, runDaemonCli, STOP_DEADLINE_MS } from './rustynetd.js';
export { RUSTYNETD_NODE_FLAGS } from './node-flags.js';
export { createBaseProgram, runProgram, addExamples, addJsonOption, addSocketOption, apiClient, CLI_VERSION } from './program.js';
export { DEFAULT_SOCKET, LocalApiClient, apiRequest, resolveSocket } from './api-client.js';
export type { DaemonStatus, PeerStatus, PluginStatus } from './api-client.js';
export { EXIT_OK, EXIT_FAILURE, EXIT_USAGE, ExitStatus, exitCodeFor, errorCodeOf, formatError } from './errors.js';
export { io, printJson, processIo } from './io.js';
export type { CliIo } from './io.js';
export { keygen, KEY_FILES } from './commands/keygen.js';
export type { KeygenResult } from './commands/keygen.js';
export { signNetmapFile, resolvePublicKey, writeFileAtomic } from './commands/netmap.js';
export { renderStatus } from './commands/status.js';
export { renderPlugins } from './commands/plugin.js';
export { table, formatBytes, formatAge, formatDuration } from './format.js';
export { daemonModule } from './daemon-api.js';
