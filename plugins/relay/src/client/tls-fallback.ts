/**
 * The relay link's fall-back to the TLS carrier (docs/relay.md, "TLS carrier"): when UDP to every
 * relay failed in a registration round, each relay with an `identityKey` is tried once more
 * through a loopback proxy to its TLS carrier ({@link openTlsProxy}). The relay entry handed to
 * the registration is the same relay with the proxy as its endpoint.
 */
import type { Logger, NetmapRelay } from '@rustynet/plugin-api';
import { openTlsProxy, type TlsProxy } from '../carrier/tls-client.js';
import { identityRefusal } from './identity-handshake.js';

/** The proxies of one link, by relay id. */
export class TlsFallback {
  private readonly proxies = new Map<string, TlsProxy>();

  constructor(private readonly log: Logger) {}

  /** Relays that can be reached over TLS (they list an identity key to pin). */
  static candidates(relays: readonly NetmapRelay[]): NetmapRelay[] {
    return relays.filter((r) => r.identityKey !== undefined);
  }

  /** `relay` with its endpoint replaced by a live proxy to its TLS carrier (opened when needed). */
  async route(relay: NetmapRelay): Promise<NetmapRelay> {
    let p = this.proxies.get(relay.id);
    if (!p || p.closed) {
      await p?.close();
      p = await openTlsProxy(relay, this.log);
      this.proxies.set(relay.id, p);
    }
    return { ...relay, endpoint: { ...p.endpoint } };
  }

  /** True when `endpoint` is one of this link's proxies. */
  isProxy(relay: NetmapRelay): boolean {
    return [...this.proxies.values()].some((p) => p.endpoint.port === relay.endpoint.port && relay.endpoint.host === '127.0.0.1');
  }

  /**
   * After a failed registration through `relay`'s proxy: the identity refusal to throw when its
   * certificate was not the netmap's key, else undefined (a transient failure).
   */
  refusal(relay: NetmapRelay, nodeId: string): Error | undefined {
    const why = this.proxies.get(relay.id)?.failure;
    return why !== undefined && why.includes('certificate') ? identityRefusal(relay, nodeId, `over TLS: ${why}`) : undefined;
  }

  /** Closes every proxy. */
  async closeAll(): Promise<void> {
    const all = [...this.proxies.values()];
    this.proxies.clear();
    await Promise.all(all.map((p) => p.close()));
  }
}
