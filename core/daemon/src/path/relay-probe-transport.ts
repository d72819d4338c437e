import type { Endpoint, RelayPlugin } from '@rustynet/plugin-api';
import type { ProbeTransport } from './probe-transport.js';

/** The relay plugin's probe channel, as {@link RelayProbeTransport} uses it. */
export type RelayProbeChannel = Pick<RelayPlugin, 'sendProbe' | 'onProbe'>;

/**
 * Port of the pseudo endpoints of the relay channel: a peer is addressed as `{ host: <its node
 * id>, port: RELAY_PROBE_PORT }`, and probes from the relay come from the node id the relay
 * authenticated at that node's registration.
 */
export const RELAY_PROBE_PORT = 0;

/**
 * The relay prober's transport: sends a probe to a peer's daemon through the relay plugin's
 * probe channel (`sendProbe`) and receives other daemons' probes from it (`onProbe`). A relay
 * plugin without a probe channel sends nothing (relay paths are then never proven).
 */
export class RelayProbeTransport implements ProbeTransport {
  private handler: ((data: Buffer, from: Endpoint) => void) | undefined;
  private closed = false;

  constructor(private readonly relay: RelayProbeChannel | undefined) {
    relay?.onProbe?.((from, payload) => {
      if (!this.closed) this.handler?.(payload, { host: from, port: RELAY_PROBE_PORT });
    });
  }

  /** True when the relay plugin has a probe channel. */
  get available(): boolean {
    return typeof this.relay?.sendProbe === 'function' && typeof this.relay.onProbe === 'function';
  }

  send(data: Uint8Array, to: Endpoint): void {
    if (this.closed || to.port !== RELAY_PROBE_PORT) return;
    try {
      this.relay?.sendProbe?.(to.host, data);
    } catch {
      /* the contract says never throws; a plugin bug loses one probe */
    }
  }

  onMessage(handler: (data: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.relay?.onProbe?.(undefined);
    }
    return Promise.resolve();
  }
}
