/**
 * The mesh's control plane ({@link MeshOptions.control}): `rustynet control serve` in its own
 * namespace (host {@link CONTROL_HOST}) on the 198.18 underlay, signing with the mesh's
 * control-plane key (so the daemons' pinned `controlPlaneKey` stays the mesh's), and the admin
 * side the tests and the demo use: pre-auth keys written to 0600 files, node list, removal, ACL.
 * The nodes' overlay addresses come from the control plane; {@link MeshControlPlane.adoptAddresses}
 * copies them into the mesh's nodes after enrolment so pings and checks use them.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AclPolicy } from '@rustynet/plugin-api';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import type { MeshNode } from './node-config.js';
import type { ResolvedMeshOptions } from './options.js';
import { stopRunning, terminateSync, track, type ProcessExit, type Running } from './processes.js';
import { RUSTYNET_BIN, rustynet } from './programs.js';

/** Name of the extra test-network host that runs `rustynet control serve` (not a mesh node). */
export const CONTROL_HOST = 'control';
/** TCP port of the control plane's node API on its underlay address. */
export const CONTROL_PORT = 4242;
/** TCP port of the standby instance ({@link MeshControlOptions.standby}) on the same address. */
export const CONTROL_STANDBY_PORT = 4243;

/** `MeshOptions.control`: run the mesh from a control plane instead of netmap files. */
export interface MeshControlOptions {
  /** `--netmap-lifetime` of the server (default `30m`); short ones test expiry. */
  netmapLifetime?: string;
  /** `--poll-timeout` of the server (default `25s`). */
  pollTimeout?: string;
  /** `netmap.control.maxRetryMs` of every daemon (default 2000: quick recovery in tests). */
  maxRetryMs?: number;
  /** `--node-key-lifetime` of the server (default: keys never expire); short ones test node key expiry. */
  nodeKeyLifetime?: string;
  /** `--database` of the server(s), e.g. a PostgreSQL URL (default: SQLite in its data directory). */
  database?: string;
  /**
   * A second instance on {@link CONTROL_STANDBY_PORT} (same key and `database`, own data
   * directory), started with {@link MeshControlPlane.startStandby}; every daemon gets both URLs.
   */
  standby?: boolean;
}

/** A node as `rustynet control nodes list --json` reports it. */
export interface ControlNodeView {
  id: string;
  name: string;
  addresses: string[];
  tags: string[];
}

/** The control server of a mesh and its admin commands. */
export class MeshControlPlane {
  private run: Running | undefined;
  private standbyRun: Running | undefined;

  readonly opts: MeshControlOptions;
  private readonly log: (line: string) => void;
  private readonly cwd: string;

  /**
   * @param host the namespace it runs in.
   * @param dir its working directory (data directory, output file, auth key files).
   * @param cpKeyFile the mesh's control-plane private key (`--key-file`).
   * @param mesh the mesh's options (`control`, `log`, `cwd`).
   */
  constructor(
    readonly host: TestHost,
    readonly dir: string,
    private readonly cpKeyFile: string,
    mesh: Pick<ResolvedMeshOptions, 'control' | 'log' | 'cwd'>,
  ) {
    this.opts = mesh.control ?? {};
    this.log = mesh.log;
    this.cwd = mesh.cwd;
  }

  /** Starts the server (if not running) and gives every node in `nodes` a one-time pre-auth key file. */
  async startFor(nodes: readonly MeshNode[]): Promise<void> {
    await this.start();
    await this.issueKeys(nodes);
  }

  /** The node API's URL (plain HTTP on the test underlay, `--insecure-listen`). */
  get url(): string {
    return `http://${this.host.underlayAddress}:${CONTROL_PORT}`;
  }

  /** The server's data directory (SQLite database, admin socket). */
  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** stdout/stderr of the server. */
  get outFile(): string {
    return join(this.dir, 'control.out');
  }

  /** Whether the server runs. */
  get running(): boolean {
    return this.run !== undefined && !this.run.exit;
  }

  /**
   * Starts the server in its namespace; resolves once it prints `serving`.
   * @throws Error with its output when it exits or is not serving within `timeoutMs`.
   */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) return;
    this.run = await this.spawnServer(CONTROL_PORT, this.dataDir, this.outFile, timeoutMs);
    this.log(`control: serving ${this.url}`);
  }

  /** The standby instance's URL ({@link MeshControlOptions.standby}). */
  get standbyUrl(): string {
    return `http://${this.host.underlayAddress}:${CONTROL_STANDBY_PORT}`;
  }

  /** The standby instance's data directory (its own admin socket). */
  get standbyDataDir(): string {
    return join(this.dir, 'data-standby');
  }

  /** Starts the standby instance (same key and database). @throws as {@link start}. */
  async startStandby(timeoutMs = 30_000): Promise<void> {
    if (this.standbyRun && !this.standbyRun.exit) return;
    this.standbyRun = await this.spawnServer(CONTROL_STANDBY_PORT, this.standbyDataDir, join(this.dir, 'control-standby.out'), timeoutMs);
    this.log(`control: standby serving ${this.standbyUrl}`);
  }

  /** SIGKILLs an instance (no clean shutdown: a crash) and waits for it to be gone. */
  async kill(which: 'primary' | 'standby' = 'primary'): Promise<void> {
    const run = which === 'primary' ? this.run : this.standbyRun;
    if (!run) return;
    if (which === 'primary') this.run = undefined;
    else this.standbyRun = undefined;
    this.log(`control: SIGKILL of the ${which} instance (pid ${run.pid})`);
    run.child.kill('SIGKILL');
    await run.exited;
  }

  private async spawnServer(port: number, dataDir: string, outFile: string, timeoutMs: number): Promise<Running> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const listen = `${this.host.underlayAddress}:${port}`;
    const args = [RUSTYNET_BIN, 'control', 'serve', '--listen', listen, '--insecure-listen', '--data', dataDir];
    args.push('--key-file', this.cpKeyFile, '--log-level', 'warn');
    if (this.opts.database !== undefined) args.push('--database', this.opts.database);
    if (this.opts.netmapLifetime !== undefined) args.push('--netmap-lifetime', this.opts.netmapLifetime);
    if (this.opts.pollTimeout !== undefined) args.push('--poll-timeout', this.opts.pollTimeout);
    if (this.opts.nodeKeyLifetime !== undefined) args.push('--node-key-lifetime', this.opts.nodeKeyLifetime);
    this.log(`control: ip netns exec ${this.host.netns} rustynet control serve --listen ${listen} --insecure-listen --data ${dataDir}`);
    const out = createWriteStream(outFile, { flags: 'a', mode: 0o600 });
    const child = this.host.spawn(process.execPath, args, {
      cwd: this.cwd,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
    });
    let text = '';
    let serving: () => void = () => undefined;
    const ready = new Promise<void>((r) => (serving = r));
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (/serving /.test(text)) serving();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const run = track(child, out);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      run.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ready') {
      if (outcome === 'timeout') child.kill('SIGKILL');
      throw new Error(`control server ${outcome === 'exited' ? 'exited' : `not serving after ${timeoutMs} ms`}:\n${text.trim()}`);
    }
    return run;
  }

  /** Stops the server (SIGTERM, SIGKILL after `timeoutMs`); null when none ran. */
  async stop(timeoutMs = 10_000): Promise<ProcessExit | null> {
    const standby = this.standbyRun;
    this.standbyRun = undefined;
    if (standby) await stopRunning(standby, timeoutMs, () => this.log('control: stopping the standby instance (SIGTERM)'));
    const run = this.run;
    if (!run) return null;
    this.run = undefined;
    return stopRunning(run, timeoutMs, () => this.log('control: stopping the control server (SIGTERM)'));
  }

  /** For signal handlers: stops the server synchronously. */
  stopSync(timeoutMs = 5_000): void {
    const pids = [this.run, this.standbyRun].filter((r) => r && !r.exit && r.pid > 0).map((r) => (r as Running).pid);
    if (pids.length > 0) terminateSync(pids, timeoutMs);
  }

  /** Runs `rustynet control <args> --data <dataDir> --json` (admin socket) and parses its output. */
  async admin(args: readonly string[]): Promise<unknown> {
    return JSON.parse(await rustynet(['control', ...args, '--data', this.dataDir, '--json'], { cwd: this.cwd })) as unknown;
  }

  /**
   * Creates a pre-auth key and writes it to `file` (0600); the key is never logged.
   * @returns the key's id.
   */
  async createKeyFile(file: string, opts: { reusable?: boolean } = {}): Promise<string> {
    const r = await this.admin(['keys', 'create', ...(opts.reusable ? ['--reusable'] : [])]);
    const { key, info } = r as { key: string; info: { id: string } };
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    return info.id;
  }

  /** The enrolled nodes. */
  async nodes(): Promise<ControlNodeView[]> {
    return ((await this.admin(['nodes', 'list'])) as { nodes: ControlNodeView[] }).nodes;
  }

  /** `rustynet control nodes remove <id>`. */
  async removeNode(id: string): Promise<void> {
    await this.admin(['nodes', 'remove', id]);
  }

  /** `rustynet control acl set <file>` with `acl` written to a file first. */
  async setAcl(acl: AclPolicy): Promise<void> {
    const file = join(this.dir, `acl-${Date.now()}.json`);
    await writeFile(file, JSON.stringify(acl), { mode: 0o600 });
    await this.admin(['acl', 'set', file]);
  }

  /**
   * Copies the overlay addresses the control plane gave each node into `nodes`.
   * @throws Error naming a node the control plane does not list.
   */
  async adoptAddresses(nodes: MeshNode[]): Promise<void> {
    const listed = await this.nodes();
    for (const n of nodes) {
      const v = listed.find((x) => x.id === n.id);
      if (!v) throw new Error(`control plane lists no node ${n.id}`);
      const v4 = v.addresses.find((a) => !a.includes(':'));
      const v6 = v.addresses.find((a) => a.includes(':'));
      if (v4) n.v4 = v4.replace(/\/\d+$/, '');
      if (v6) n.v6 = v6.replace(/\/\d+$/, '');
    }
  }

  /** The `netmap` block of node `n`'s daemon config: enrol with `authKeyFile`, report its underlay endpoint. */
  netmapConfig(n: MeshNode, listenPort: number, pollIntervalMs: number): Record<string, unknown> {
    return {
      control: {
        url: this.url,
        ...(this.opts.standby === true && { urls: [this.standbyUrl] }),
        authKeyFile: this.authKeyFile(n),
        endpoints: [{ host: n.host.underlayAddress, port: listenPort }],
        maxRetryMs: this.opts.maxRetryMs ?? 2_000,
        waitMs: 20_000,
      },
      pollIntervalMs,
    };
  }

  /** Where node `n`'s pre-auth key file lives (in its own directory). */
  authKeyFile(n: MeshNode): string {
    return join(n.dir, 'authkey');
  }

  /** Gives every node in `nodes` its own one-time pre-auth key file. */
  async issueKeys(nodes: readonly MeshNode[]): Promise<void> {
    for (const n of nodes) {
      const id = await this.createKeyFile(this.authKeyFile(n));
      this.log(`control: pre-auth key ${id} for node ${n.id} -> ${this.authKeyFile(n)} (0600)`);
    }
  }
}
