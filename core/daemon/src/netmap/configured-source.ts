/**
 * The netmap source a daemon config names (`netmap.file` or `netmap.url`). `netmap.control` has
 * no built-in source: the daemon does not speak the control protocol (the control package
 * depends on the daemon, not the other way round), so the embedding program passes one.
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { NetmapSourceConfig } from '../config/schema.js';
import { FileDeltaNetmapSource } from './file-delta-source.js';
import { FileNetmapSource, UrlNetmapSource, type NetmapSource } from './source.js';

/**
 * `given` when set, else the source `cfg` describes.
 * @param onUrlError called on each failed URL fetch, and each unreadable delta file (for logs).
 * @throws RustynetError `CONFIG_INVALID` (field `netmap.control`) for a control-plane config
 *   without a `given` source.
 */
export function configuredNetmapSource(
  cfg: NetmapSourceConfig,
  given: NetmapSource | undefined,
  onUrlError: (err: unknown) => void,
): NetmapSource {
  if (given) return given;
  if ('file' in cfg)
    return cfg.deltaFile !== undefined
      ? new FileDeltaNetmapSource(cfg.file, cfg.deltaFile, cfg.maxBytes, onUrlError)
      : new FileNetmapSource(cfg.file, cfg.maxBytes);
  if ('url' in cfg) return new UrlNetmapSource(cfg.url, cfg.timeoutMs, onUrlError, cfg.maxBytes);
  throw new RustynetError(
    'CONFIG_INVALID',
    'netmap.control: the control-plane source is built by rustynetd (or the embedding program passes DaemonOptions.netmapSource)',
    { field: 'netmap.control' },
  );
}
