/**
 * `rustynet control serve`: runs the control plane (node API on `--listen`, admin API on the data
 * directory's socket) until SIGINT/SIGTERM. `@rustynet/control` is loaded on demand.
 */
import type { Command } from 'commander';
import type * as ControlModule from '@rustynet/control';
import { io } from '../io.js';
import { addExamples } from '../program.js';
import { DEFAULT_CONTROL_DATA, controlModule, readJsonFile } from './control-admin.js';
import { DATABASE_HELP, databaseOption } from './control-backup.js';

/** Registers `control serve` on the `control` command. */
export function registerServe(control: Command): void {
  const serve = control
    .command('serve')
    .description('run the control plane: node API on --listen, admin API on <data>/admin.sock (0600)')
    .requiredOption('--listen <addr:port>', 'node API address, e.g. 0.0.0.0:4242 or [::1]:4242')
    .option('--data <dir>', 'data directory (created 0700): control.db, control-plane.key, admin.sock', DEFAULT_CONTROL_DATA)
    .option('--database <url>', DATABASE_HELP)
    .option('--tls-cert <file>', 'TLS certificate (PEM) for HTTPS')
    .option('--tls-key <file>', 'TLS private key (PEM) for HTTPS')
    .option('--insecure-listen', 'allow plain HTTP on a non-loopback address (only behind a TLS proxy)')
    .option('--key-file <file>', 'control-plane signing key (PEM, 0600); default <data>/control-plane.key, created if absent')
    .option(
      '--config <file>',
      'JSON settings: { "network", "dnsZone", "relays": [{ "id", "endpoint": { "host", "port" }, "identityKey"?, "region"? }] }',
    )
    .option('--netmap-lifetime <duration>', 'netmap lifetime; re-signed before half of it is gone', '30m')
    .option('--poll-timeout <duration>', 'how long a long-poll is held without a change', '25s')
    .option(
      '--node-key-lifetime <duration>',
      'node keys expire this long after enrolment or `rustynet rotate-keys` (e.g. 90d); expired nodes leave netmaps until they re-enrol. Default: never',
    )
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent (JSON lines on stdout)', 'info');
  addExamples(serve, [
    'rustynet control serve --listen 127.0.0.1:4242 --data /var/lib/rustynet-control',
    'rustynet control serve --listen 0.0.0.0:443 --tls-cert /etc/rustynet/cert.pem --tls-key /etc/rustynet/key.pem',
    'rustynet control serve --listen 10.0.0.5:8080 --insecure-listen   # behind a TLS-terminating proxy',
    'rustynet control serve --listen 0.0.0.0:4242 --tls-cert c.pem --tls-key k.pem --database postgres://rustynet@db.example/rustynet',
  ]);
  serve.action(
    async (opts: {
      listen: string;
      data: string;
      database?: string;
      tlsCert?: string;
      tlsKey?: string;
      insecureListen?: boolean;
      keyFile?: string;
      config?: string;
      netmapLifetime: string;
      pollTimeout: string;
      nodeKeyLifetime?: string;
      logLevel: string;
    }) => {
      const database = databaseOption(opts.database);
      const m = await controlModule();
      const { createLogger } = await import('@rustynet/daemon');
      const logger = createLogger({ level: opts.logLevel }).child({ component: 'control' });
      const settings = opts.config
        ? ((await readJsonFile(opts.config, '--config')) as {
            network?: string;
            dnsZone?: string;
            relays?: ControlModule.ControlServerOptions['relays'];
          })
        : {};
      process.umask(0o077);
      const server = await m.startControlServer({
        listen: opts.listen,
        dataDir: opts.data,
        ...(database !== undefined && { database }),
        logger,
        netmapLifetimeMs: m.parseDuration(opts.netmapLifetime, '--netmap-lifetime'),
        pollTimeoutMs: m.parseDuration(opts.pollTimeout, '--poll-timeout'),
        ...(opts.nodeKeyLifetime !== undefined && { nodeKeyLifetimeMs: m.parseDuration(opts.nodeKeyLifetime, '--node-key-lifetime') }),
        ...(opts.tlsCert !== undefined && { tlsCertFile: opts.tlsCert }),
        ...(opts.tlsKey !== undefined && { tlsKeyFile: opts.tlsKey }),
        ...(opts.insecureListen === true && { insecureListen: true }),
        ...(opts.keyFile !== undefined && { keyFile: opts.keyFile }),
        ...(settings.network !== undefined && { network: settings.network }),
        ...(settings.dnsZone !== undefined && { dnsZone: settings.dnsZone }),
        ...(settings.relays !== undefined && { relays: settings.relays }),
      });
      io().err(
        `rustynet control: serving ${server.url} (netmap version ${server.service.snapshot.version}), admin socket ${server.adminSocket}, ` +
          `control-plane key ${server.service.key.publicKey}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().finally(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    },
  );
}
