import { expect } from 'chai';
import {
  RustynetError,
  isRustynetError,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type CallOptions,
  type Endpoint,
  type NodeId,
  type PeerBatch,
  type RouteChange,
} from '@rustynet/plugin-api';
import { BackendBase, PluginLifecycle, type CallScope } from '../src/index.js';
import { ManualClock } from './abort.test.js';

interface State {
  name: string;
  peers: Set<string>;
}

class Toy extends PluginLifecycle<State, string> {
  readonly log: string[] = [];
  failStop: RustynetError | undefined;
  constructor() {
    super({ clock: new ManualClock(), label: 'the toy' });
  }
  protected override async _start(name: string): Promise<State> {
    this.log.push(`start ${name}`);
    return { name, peers: new Set() };
  }
  failMode: 'throw' | 'return' = 'throw';
  start(name: string, options?: CallOptions): Promise<void> {
    return this.runStart(name, options);
  }
  protected override async _stop(state: State): Promise<RustynetError | void> {
    this.log.push(`stop ${state.name}`);
    if (this.failStop && this.failMode === 'throw') throw this.failStop;
    if (this.failStop) return this.failStop;
  }
  add(peer: string, options?: CallOptions): Promise<number> {
    return this.whileRunning(options, async (st) => {
      await Promise.resolve();
      st.peers.add(peer);
      this.log.push(`add ${peer}`);
      return st.peers.size;
    });
  }
  throwDom(): Promise<void> {
    return this.whileRunning(undefined, async () => {
      throw new DOMException('late', 'TimeoutError');
    });
  }
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isRustynetError(err) ? err.code : String(err);
  }
}

describe('plugin-kit: PluginLifecycle', () => {
  it('NOT_RUNNING before start and after stop; ALREADY_RUNNING; stop idempotent; restart works', async () => {
    const t = new Toy();
    expect(await code(t.add('a'))).to.equal('NOT_RUNNING');
    await t.stop();
    await t.start('one');
    expect(t.isRunning).to.equal(true);
    expect(await code(t.start('two'))).to.equal('ALREADY_RUNNING');
    expect(await t.add('a')).to.equal(1);
    await t.stop();
    await t.stop();
    expect(await code(t.add('b'))).to.equal('NOT_RUNNING');
    await t.start('three');
    expect(t.log).to.deep.equal(['start one', 'add a', 'stop one', 'start three']);
  });

  it('serialises calls in call order', async () => {
    const t = new Toy();
    const all = Promise.all([t.start('x'), t.add('a'), t.add('b'), t.stop(), t.add('c')].map((p) => code(p)));
    expect(await all).to.deep.equal([undefined, undefined, undefined, undefined, 'NOT_RUNNING']);
    expect(t.log).to.deep.equal(['start x', 'add a', 'add b', 'stop x']);
  });

  it('maps aborted signals and DOM timeouts, and changes nothing', async () => {
    const t = new Toy();
    expect(await code(t.start('x', { signal: AbortSignal.abort() }))).to.equal('ABORTED');
    expect(t.isRunning).to.equal(false);
    await t.start('x');
    expect(await code(t.add('a', { signal: AbortSignal.abort(new DOMException('t', 'TimeoutError')) }))).to.equal('TIMEOUT');
    expect(await code(t.add('a', { timeoutMs: 0 }))).to.equal('TIMEOUT');
    expect(await code(t.throwDom())).to.equal('TIMEOUT');
    expect(t.log).to.deep.equal(['start x']);
  });

  it('a stop that throws stays running; one that resolves with an error counts as stopped', async () => {
    const t = new Toy();
    await t.start('x');
    t.failStop = new RustynetError('TIMEOUT', 'slow');
    expect(await code(t.stop())).to.equal('TIMEOUT');
    expect(t.isRunning).to.equal(true);
    t.failStop = new RustynetError('BACKEND_FAILED', 'left a device');
    t.failMode = 'return';
    expect(await code(t.stop())).to.equal('BACKEND_FAILED');
    expect(t.isRunning).to.equal(false);
  });
});

class ToyBackend extends BackendBase<{ peers: number }> {
  readonly calls: string[] = [];
  constructor() {
    super({ clock: new ManualClock(), label: 'the toy backend' });
  }
  capabilities(): BackendCapabilities {
    return {
      roaming: false,
      ipv6: false,
      exitNode: false,
      lanRoutes: false,
      udpTransport: true,
      handshakeStats: false,
      maxPeers: 1,
      allowedIpsUpdate: true,
    };
  }
  protected override async _start(config: BackendStartConfig): Promise<{ peers: number }> {
    this.calls.push(`start ${config.interfaceName}`);
    return { peers: 0 };
  }
  protected override async _stop(): Promise<void> {
    this.calls.push('stop');
  }
  protected override async _generateKeyPair(directory: string): Promise<BackendKeyPair> {
    this.calls.push(`keys ${directory}`);
    return { publicKey: 'pk', files: [] };
  }
  protected override async _publicKey(): Promise<string> {
    return 'pk';
  }
  protected override async _applyPeers(state: { peers: number }, batch: PeerBatch): Promise<void> {
    state.peers += batch.upsert.length;
    this.calls.push(`peers ${state.peers}`);
  }
  protected override async _updatePeerEndpoint(_s: { peers: number }, peer: NodeId, _e: Endpoint, _scope: CallScope): Promise<void> {
    throw new RustynetError('UNKNOWN_PEER', `no ${peer}`);
  }
  protected override async _applyRoutes(_s: { peers: number }, change: RouteChange): Promise<void> {
    this.calls.push(`routes ${change.add.length}`);
  }
  protected override async _stats(): Promise<BackendRuntimeStats> {
    return { interfaces: ['toy0'], peers: [] };
  }
}

describe('plugin-kit: BackendBase', () => {
  const config: BackendStartConfig = {
    nodeId: 'n1',
    addresses: ['100.64.0.1/32'],
    listenPort: 0,
    interfaceName: 'toy0',
    keyDirectory: '/nonexistent',
  };

  it('routes the contract through the protected methods with state checks', async () => {
    const b = new ToyBackend();
    expect(b.kind).to.equal('backend');
    expect(await b.publicKey('/d')).to.equal('pk');
    await b.generateKeyPair('/d');
    expect(await code(b.applyPeers({ upsert: [], remove: [] }))).to.equal('NOT_RUNNING');
    expect(await code(b.applyRoutes({ add: [], remove: [] }))).to.equal('NOT_RUNNING');
    expect(await code(b.stats())).to.equal('NOT_RUNNING');
    expect(await code(b.updatePeerEndpoint('p', { host: '198.18.0.1', port: 1 }))).to.equal('NOT_RUNNING');
    await b.start(config);
    expect(await code(b.start(config))).to.equal('ALREADY_RUNNING');
    await b.applyPeers({ upsert: [], remove: [] });
    await b.applyRoutes({ add: [], remove: [] });
    expect((await b.stats()).interfaces).to.deep.equal(['toy0']);
    expect(await code(b.updatePeerEndpoint('p', { host: '198.18.0.1', port: 1 }))).to.equal('UNKNOWN_PEER');
    expect(await code(b.generateKeyPair('/d', { signal: AbortSignal.abort() }))).to.equal('ABORTED');
    await b.stop();
    expect(b.calls).to.deep.equal(['keys /d', 'start toy0', 'peers 0', 'routes 0', 'stop']);
  });
});

class SlowStart extends PluginLifecycle<string, void> {
  sawStop = false;
  private entered: () => void = () => undefined;
  /** Resolves once `_start` runs. */
  readonly inStart = new Promise<void>((resolve) => (this.entered = resolve));
  constructor() {
    super({ clock: new ManualClock(), label: 'the slow one', stopAbortsStart: true });
  }
  start(options?: CallOptions): Promise<void> {
    return this.runStart(undefined, options);
  }
  protected override async _start(_c: void, scope: CallScope): Promise<string> {
    const signal = scope.signal;
    if (!signal) throw new Error('a stopAbortsStart start always has a signal');
    this.entered();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.sawStop = this.stopPending;
    throw signal.reason;
  }
  protected override async _stop(): Promise<void> {}
}

describe('plugin-kit: PluginLifecycle with stopAbortsStart', () => {
  it('stop aborts a start in progress, which rejects with ABORTED', async () => {
    const t = new SlowStart();
    const starting = code(t.start());
    await t.inStart;
    await t.stop();
    expect(await starting).to.equal('ABORTED');
    expect(t.sawStop).to.equal(true);
    expect(t.isRunning).to.equal(false);
  });
});
