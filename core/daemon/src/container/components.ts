import { join } from 'node:path';
import type { StateStore } from '@rustynet/plugin-api';
import { KeyStore } from '../services/key-store.js';
import { FileStateStore } from '../services/state-store.js';
import type { HostServices } from './containers.js';

/**
 * The daemon's services as one typed object, built once per daemon by {@link createComponents}
 * (the composition root; see docs/design/0001-dependency-injection.md). Parts receive the
 * members they need through their constructors; nothing looks a service up at run time.
 */
export interface DaemonComponents extends HostServices {
  /** The core's own state store (`<stateDir>/daemon`): watermark and last good netmap. */
  stateStore: StateStore;
  /** The node's identity key; never handed to a plugin (the relay gets a signing function). */
  keyStore: KeyStore;
}

/** Builds the daemon's components from the host services. */
export function createComponents(services: HostServices): DaemonComponents {
  return { ...services, stateStore: new FileStateStore(join(services.stateDir, 'daemon')), keyStore: new KeyStore() };
}
