/**
 * Starting the mesh's relay server: `rustynet relay serve` inside the relay host's namespace on
 * `<its underlay>:RELAY_PORT`, reading the relay's copy of the signed netmap.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import { RELAY_ID, RELAY_PORT } from './constants.js';
import type { DaemonProcesses } from './daemons.js';
import { RUSTYNET_BIN } from './programs.js';

/** What {@link startMeshRelay} needs. */
export interface MeshRelayStart {
  /** The relay id (`--relay-id`); default `RELAY_ID`. */
  id?: string;
  host: TestHost;
  netmapFile: string;
  outFile: string;
  cpPublicKey: string;
  /** The relay's identity key file (`--identity-key`). */
  identityKeyFile: string;
  cwd: string;
  log: (line: string) => void;
  timeoutMs: number;
  /** Extra `rustynet relay serve` arguments (MeshOptions.relayExtraArgs). */
  extraArgs?: readonly string[];
}

/**
 * Starts the relay server through `procs` and resolves once it listens.
 * @throws Error with its output when it exits or does not listen within `timeoutMs`.
 */
export async function startMeshRelay(procs: DaemonProcesses, r: MeshRelayStart): Promise<void> {
  const id = r.id ?? RELAY_ID;
  const listen = `${r.host.underlayAddress}:${RELAY_PORT}`;
  const args = [RUSTYNET_BIN, 'relay', 'serve', '--listen', listen, '--netmap', r.netmapFile];
  args.push('--control-plane-key', r.cpPublicKey, '--relay-id', id, '--poll-interval', '1000', '--identity-key', r.identityKeyFile);
  args.push(...(r.extraArgs ?? []));
  r.log(`relay ${id}: ip netns exec ${r.host.netns} rustynet relay serve --listen ${listen} --netmap ${r.netmapFile} --relay-id ${id}`);
  const where = await procs.startRelay({ id, host: r.host, args, outFile: r.outFile, cwd: r.cwd, timeoutMs: r.timeoutMs });
  r.log(`relay ${id}: ${where}`);
}

/**
 * Writes a new Ed25519 relay identity key to `file` (PKCS#8 PEM, 0600) and returns its public key
 * (raw 32 bytes, base64) for the netmap's `relays[].identityKey`.
 */
export async function writeRelayIdentityKey(file: string): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url').toString('base64');
}
