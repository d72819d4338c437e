/**
 * The data-plane watchdog with an injected clock and a fake backend: faults reported and noticed
 * through health reads start one restore of the whole desired state, retried with back-off
 * (the waits are asserted as the clock's requested sleeps, never as elapsed time).
 */
import { expect } from 'chai';
import { RustynetError, type BackendFault, type Counter } from '@rustynet/plugin-api';
import { createLogger } from '../src/services/logger.js';
import { DataPlaneWatchdog, type WatchdogDeps } from '../src/local/watchdog.js';
import { ManualClock } from './path-fakes.js';

/** A clock that records every sleep it was asked for. */
class RecordingClock extends ManualClock {
  readonly sleeps: number[] = [];
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return super.sleep(ms, signal);
  }
}

/** A backend whose health reads and restores fail while told to. */
class FakeBackend {
  statsFail = false;
  restoreFailures = 0;
  restores = 0;
  stats(): Promise<void> {
    return this.statsFail ? Promise.reject(new RustynetError('BACKEND_FAILED', 'device gone')) : Promise.resolve();
  }
  restore(): Promise<void> {
    this.restores++;
    if (this.restoreFailures > 0) {
      this.restoreFailures--;
      return Promise.reject(new RustynetError('BACKEND_FAILED', 'start failed'));
    }
    this.statsFail = false;
    return Promise.resolve();
  }
}

function counter(): Counter & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    counts,
    inc(labels?: Record<string, string>) {
      const k = JSON.stringify(labels ?? {});
      counts.set(k, (counts.get(k) ?? 0) + 1);
    },
  };
}

/** Lets queued promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

function setup(opts: { wanted?: () => boolean } = {}): {
  dog: DataPlaneWatchdog;
  clock: RecordingClock;
  backend: FakeBackend;
  audit: Array<{ kind: string; data: Record<string, unknown> }>;
  faults: ReturnType<typeof counter>;
  restores: ReturnType<typeof counter>;
} {
  const clock = new RecordingClock();
  const backend = new FakeBackend();
  const audit: Array<{ kind: string; data: Record<string, unknown> }> = [];
  const faults = counter();
  const restores = counter();
  let chain: Promise<unknown> = Promise.resolve();
  const deps: WatchdogDeps = {
    clock,
    logger: createLogger({ level: 'silent' }),
    faults,
    restores,
    audit: (kind, data) => {
      audit.push({ kind, data });
      return Promise.resolve();
    },
    serial: <T>(fn: () => Promise<T>): Promise<T> => {
      const p = chain.then(fn, fn);
      chain = p.catch(() => undefined);
      return p;
    },
    wanted: opts.wanted ?? (() => true),
    probe: () => backend.stats(),
    restore: () => backend.restore(),
  };
  return { dog: new DataPlaneWatchdog(deps), clock, backend, audit, faults, restores };
}

const FAULT: BackendFault = { code: 'BACKEND_FAILED', message: 'data-plane process exited (signal SIGKILL)' };

describe('data-plane watchdog', () => {
  it('a reported fault restores the desired state once, at once, with a metric and audit records', async () => {
    const { dog, clock, backend, audit, faults, restores } = setup();
    dog.report(FAULT);
    dog.report(FAULT); // a second report while restoring starts nothing more
    await dog.settled();
    expect(backend.restores).to.equal(1);
    expect(clock.sleeps).to.deep.equal([]);
    const h = dog.health();
    expect(h.state).to.equal('ok');
    expect(h.reason?.message).to.equal(FAULT.message);
    expect(h.restores).to.deep.equal({ ok: 1, failed: 0 });
    expect(h.lastRestore?.result).to.equal('ok');
    expect(faults.counts.get('{"source":"backend"}')).to.equal(2);
    expect(restores.counts.get('{"result":"ok"}')).to.equal(1);
    await flush();
    expect(audit.map((a) => a.kind)).to.deep.equal(['dataplane.fault', 'dataplane.restore']);
    expect(audit[1]?.data.result).to.equal('ok');
  });

  it('retries a failing restore with exponential back-off on the injected clock, degraded meanwhile', async () => {
    const { dog, clock, backend, restores } = setup();
    backend.restoreFailures = 2;
    dog.report(FAULT);
    await flush();
    expect(backend.restores).to.equal(1);
    expect(dog.health().state).to.equal('degraded');
    expect(dog.health().reason?.message).to.match(/restore attempt 1 failed/);
    expect(clock.sleeps).to.deep.equal([250]);
    clock.advance(250);
    await flush();
    expect(backend.restores).to.equal(2);
    expect(clock.sleeps).to.deep.equal([250, 500]);
    clock.advance(500);
    await dog.settled();
    expect(backend.restores).to.equal(3);
    expect(dog.health().state).to.equal('ok');
    expect(dog.health().restores).to.deep.equal({ ok: 1, failed: 2 });
    expect(dog.health().lastRestore?.attempt).to.equal(3);
    expect(restores.counts.get('{"result":"failed"}')).to.equal(2);
  });

  it('a failed health read starts a restore; a good one does nothing', async () => {
    const { dog, backend, faults } = setup();
    await dog.check();
    await dog.settled();
    expect(backend.restores).to.equal(0);
    expect(dog.health().state).to.equal('ok');
    backend.statsFail = true;
    await dog.check();
    await dog.settled();
    expect(backend.restores).to.equal(1);
    expect(faults.counts.get('{"source":"stats"}')).to.equal(1);
    expect(dog.health().state).to.equal('ok');
    expect(dog.health().reason?.message).to.match(/health read failed: device gone/);
  });

  it('records a self-healing fault without restoring; the next good health read clears it', async () => {
    const { dog, backend, audit } = setup();
    dog.report({ ...FAULT, selfHealing: true });
    expect(dog.health().state).to.equal('degraded');
    await dog.settled();
    expect(backend.restores).to.equal(0);
    await dog.check();
    expect(dog.health().state).to.equal('ok');
    await flush();
    expect(audit.map((a) => a.kind)).to.deep.equal(['dataplane.fault']);
    expect(audit[0]?.data.selfHealing).to.equal(true);
  });

  it('does not probe or restore while the data plane is not wanted (down)', async () => {
    const { dog, backend } = setup({ wanted: () => false });
    backend.statsFail = true;
    await dog.check();
    dog.report(FAULT);
    await dog.settled();
    expect(backend.restores).to.equal(0);
    expect(dog.health().state).to.equal('ok');
  });

  it('stop ends a restore loop waiting for its back-off', async () => {
    const { dog, backend, clock } = setup();
    backend.restoreFailures = 10;
    dog.report(FAULT);
    await flush();
    expect(clock.sleeps).to.deep.equal([250]);
    await dog.stop();
    await dog.settled();
    expect(backend.restores).to.equal(1);
    dog.report(FAULT);
    await flush();
    expect(backend.restores).to.equal(1);
  });
});
