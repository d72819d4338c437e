/**
 * Netmaps of a mesh: building the document from the nodes, signing it with the control-plane
 * key through `rustynet netmap sign`, and writing it atomically where a daemon or the relay
 * server reads it.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { AclPolicy, Netmap, NetmapNode, NetmapRelay, SignedNetmap } from '@rustynet/plugin-api';
import { PROBE_PORT, RELAY_ID, RELAY_PORT } from './constants.js';
import type { MeshNode } from './node-config.js';
import { rustynet } from './programs.js';

/** Options of {@link buildNetmap}, as `Mesh.netmap` takes them. */
export interface NetmapOptions {
  /** Node ids left out. */
  without?: string[];
  /** Start of the validity window (default 5 s ago). */
  issuedAt?: Date;
  /** End of the validity window (default `issuedAt` + the mesh's `ttlMs`). */
  expiresAt?: Date;
  /** Replaces the mesh's ACL (`null`: no ACL). */
  acl?: AclPolicy | null;
  /** Node names (DNS) by id. */
  names?: Record<string, string>;
  /** Netmap `routes` by node id (e.g. `{ b: ['0.0.0.0/0'] }` makes b an exit node). */
  routes?: Record<string, string[]>;
}

/** What a netmap needs to know about the mesh beyond its nodes. */
export interface NetmapShape {
  runId: string;
  listenPort: number;
  ttlMs: number;
  acl: AclPolicy | undefined;
  /** Underlay address of the relay host, when the mesh has one. */
  relayAddress: string | undefined;
  /** The relay's identity key (netmap `relays[].identityKey`), when it has one. */
  relayIdentityKey?: string;
  /** Further relays (`MeshOptions.extraRelays`), listed after the first. */
  extraRelays?: NetmapRelay[];
}

/** The netmap entry of one node (`probePort` only when the mesh has a relay). */
export function buildNetmapNode(n: MeshNode, shape: NetmapShape): NetmapNode {
  return {
    id: n.id,
    addresses: [`${n.v4}/32`, `${n.v6}/128`],
    endpoints: [{ host: n.host.underlayAddress, port: shape.listenPort }],
    keys: { ...n.keys },
    identityKey: n.identityKey,
    ...(shape.relayAddress !== undefined && { probePort: PROBE_PORT }),
  };
}

/** An unsigned netmap of `nodes` at `version`; with a relay it lists the relay. */
export function buildNetmap(version: number, nodes: readonly MeshNode[], shape: NetmapShape, opts: NetmapOptions = {}): Netmap {
  const issued = opts.issuedAt ?? new Date(Date.now() - 5_000);
  const expires = opts.expiresAt ?? new Date(issued.getTime() + shape.ttlMs);
  const acl = opts.acl === null ? undefined : (opts.acl ?? shape.acl);
  return {
    version,
    issuedAt: issued.toISOString(),
    expiresAt: expires.toISOString(),
    network: `rustynet-mesh-${shape.runId}`,
    nodes: nodes
      .filter((n) => !(opts.without ?? []).includes(n.id))
      .map((n) => ({
        ...buildNetmapNode(n, shape),
        ...(opts.names?.[n.id] !== undefined && { name: opts.names[n.id] }),
        ...(opts.routes?.[n.id] !== undefined && { routes: [...opts.routes[n.id]] }),
      })),
    ...(acl && { acl: structuredClone(acl) }),
    ...(shape.relayAddress !== undefined && {
      relays: [
        {
          id: RELAY_ID,
          endpoint: { host: shape.relayAddress, port: RELAY_PORT },
          ...(shape.relayIdentityKey !== undefined && { identityKey: shape.relayIdentityKey }),
        },
        ...(shape.extraRelays ?? []).map((r) => structuredClone(r)),
      ],
    }),
  };
}

/** Signs `netmap` with the private key in `keyFile` through `rustynet netmap sign`. */
export async function signNetmap(netmap: Netmap, keyFile: string, cwd: string): Promise<SignedNetmap> {
  const text = await rustynet(['netmap', 'sign', '--key', keyFile, '--in', '-'], { input: JSON.stringify(netmap), cwd });
  return JSON.parse(text) as SignedNetmap;
}

/** Writes `text` to `file` atomically (temporary file + rename), mode 0644. */
export async function writeNetmapFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
}
