import type { BackendPlugin, Counter } from '@rustynet/plugin-api';

/**
 * Wraps a backend so every data-plane call is counted in `counter` with labels
 * `{method, outcome}` (`outcome` = `ok` or the error code). Behaviour is unchanged; every method
 * still runs with `this` = the original instance.
 */
export function instrumentBackend(backend: BackendPlugin, counter: Counter): BackendPlugin {
  const count =
    <A extends unknown[], R>(method: string, fn: (...a: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        const r = await fn.apply(backend, args);
        counter.inc({ method, outcome: 'ok' });
        return r;
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        counter.inc({ method, outcome: typeof code === 'string' ? code : 'error' });
        throw err;
      }
    };
  return {
    kind: 'backend',
    capabilities: () => backend.capabilities(),
    generateKeyPair: (d, o) => backend.generateKeyPair(d, o),
    publicKey: (d, o) => backend.publicKey(d, o),
    start: count('start', backend.start.bind(backend)),
    stop: count('stop', backend.stop.bind(backend)),
    applyPeers: count('applyPeers', backend.applyPeers.bind(backend)),
    applyRoutes: count('applyRoutes', backend.applyRoutes.bind(backend)),
    updatePeerEndpoint: count('updatePeerEndpoint', backend.updatePeerEndpoint.bind(backend)),
    stats: count('stats', backend.stats.bind(backend)),
  };
}
