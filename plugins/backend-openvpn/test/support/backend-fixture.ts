/**
 * The shared set-up of the backend's fake-runner unit tests: peers with predictable keys and
 * addresses, a helper that awaits a RustynetError, and a fresh backend per test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRustynetError, type BackendStartConfig, type PeerConfig, type RustynetError } from '@rustynet/plugin-api';
import { parseIp } from '@rustynet/plugin-kit';
import { OpenVpnBackend } from '../../src/backend.js';
import { generateKeyPair } from '../../src/keys.js';
import { portOffset } from '../../src/rules.js';
import { FakeRunner } from './fake-runner.js';
import { makeContext, MemoryLogger } from './context.js';

/** An IPv4 address as an integer (plugin-kit's parser). */
export const ipv4ToBigInt = (ip: string): bigint => parseIp(ip)?.value ?? -1n;

/** The port offset of an overlay address (the port rule, base 1024). */
export const off = (ip: string): number => portOffset(ipv4ToBigInt(ip), 1024);

/** An address outside a's /22 whose port offset equals a's (100.64.0.1). */
export const COLLIDES_WITH_A = (() => {
  for (let i = 1024; i < 65536; i++) {
    const v = ipv4ToBigInt('100.64.0.0') + BigInt(i);
    if (portOffset(v, 1024) === portOffset(ipv4ToBigInt('100.64.0.1'), 1024))
      return [24, 16, 8, 0].map((sh) => Number((v >> BigInt(sh)) & 255n)).join('.');
  }
  throw new Error('no collision found');
})();

/** A certificate fingerprint (32 upper-case hex bytes) derived from n. */
export const FP = (n: number): string =>
  Array.from({ length: 32 }, (_, k) => ((n + k) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');

/** Peer n: fingerprint FP(n), endpoint 198.18.0.n:51000, overlay 100.64.0.n and fd00::n. */
export function peer(id: string, n: number, extra: Partial<PeerConfig> = {}): PeerConfig {
  return {
    id,
    publicKey: FP(n),
    endpoint: { host: `198.18.0.${n}`, port: 51000 },
    allowedIps: [`100.64.0.${n}/32`, `fd00::${n}/128`],
    ...extra,
  };
}

/** The RustynetError p rejects with; throws if it resolves or rejects with anything else. */
export async function failure(p: Promise<unknown>): Promise<RustynetError> {
  try {
    await p;
  } catch (err) {
    if (isRustynetError(err)) return err;
    throw err;
  }
  throw new Error('expected a RustynetError');
}

/** What {@link useFakeBackend} sets up anew before each test. */
export interface FakeBackendFixture {
  root: string;
  keyDir: string;
  runner: FakeRunner;
  logger: MemoryLogger;
  /** Replaceable by a test (e.g. with other options); the one set here is stopped after the test. */
  backend: OpenVpnBackend;
  /** Node b's start config (100.64.0.2, port 51000, rn0), with overrides. */
  startCfg: (over?: Record<string, unknown>) => BackendStartConfig;
}

/**
 * Registers mocha hooks that give each test a fresh key pair, fake runner, logger and backend (in a
 * temporary folder removed afterwards); returns the fixture the hooks fill in.
 */
export function useFakeBackend(): FakeBackendFixture {
  const t = {
    startCfg: (over: Record<string, unknown> = {}): BackendStartConfig => ({
      nodeId: 'b',
      addresses: ['100.64.0.2/32', 'fd00::2/128'],
      listenPort: 51000,
      interfaceName: 'rn0',
      keyDirectory: t.keyDir,
      ...over,
    }),
  } as FakeBackendFixture;

  beforeEach(async () => {
    t.root = mkdtempSync(join(tmpdir(), 'rn-ovpn-unit-'));
    t.keyDir = join(t.root, 'keys');
    await generateKeyPair(t.keyDir);
    t.runner = new FakeRunner();
    t.logger = new MemoryLogger();
    t.backend = new OpenVpnBackend(
      makeContext({ runner: t.runner, stateDir: join(t.root, 'state'), logger: t.logger, options: { restartBackoffMs: 10 } }),
    );
  });

  afterEach(async () => {
    await t.backend.stop();
    rmSync(t.root, { recursive: true, force: true });
  });

  return t;
}
