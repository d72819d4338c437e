/**
 * Test-only child process: starts the backend in a namespace, applies the peers given as JSON,
 * prints "ready" and waits to be killed (SIGKILL simulates a crashed host daemon: its openvpn
 * processes, devices and files stay behind).
 * argv: <netns> <stateDir> <startConfigJson> <peersJson>
 */
import type { BackendStartConfig, PeerConfig } from '@rustynet/plugin-api';
import { OpenVpnBackend } from '../../src/backend.js';
import { makeContext } from './context.js';
import { NetnsRunner } from './netns-runner.js';

const [netns, stateDir, startJson, peersJson] = process.argv.slice(2) as [string, string, string, string];
const backend = new OpenVpnBackend(makeContext({ runner: new NetnsRunner(netns), stateDir, options: { pingRestartS: 20 } }));
await backend.start(JSON.parse(startJson) as BackendStartConfig);
await backend.applyPeers({ upsert: JSON.parse(peersJson) as PeerConfig[], remove: [] });
process.stdout.write(
  `ready ${backend
    .instances()
    .map((i) => i.pid)
    .join(',')}\n`,
);
setInterval(() => undefined, 1 << 30);
