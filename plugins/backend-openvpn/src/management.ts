/**
 * Client and parsers for the OpenVPN management interface on a UNIX socket
 * (`--management <path> unix`; protocol: OpenVPN "management-notes.txt", interface version 5).
 * Real-time notifications start with `>` and are skipped; multi-line replies end with `END`;
 * single-line replies start with `SUCCESS:` or `ERROR:`.
 */
import { connect } from 'node:net';

/** One line of the `state` command: `time,STATE,desc,local-ip,remote-ip,remote-port,...`. */
export interface ManagementState {
  /** Time of entering this state, ms since the epoch. */
  at: number;
  /** OpenVPN state word: CONNECTING, WAIT, AUTH, GET_CONFIG, ASSIGN_IP, ADD_ROUTES, CONNECTED, RECONNECTING, EXITING, ... */
  state: string;
  description: string;
  localTunnelIp: string;
  remoteHost: string;
  remotePort: number | undefined;
}

/** Counters of the `status` command (p2p mode). Byte counts since the process started. */
export interface ManagementStatus {
  /** Bytes read from the tun device: payload sent to the peer. */
  tunReadBytes: number;
  /** Bytes written to the tun device: payload received from the peer. */
  tunWriteBytes: number;
  /** Bytes read from the UDP socket (encrypted). */
  linkReadBytes: number;
  /** Bytes written to the UDP socket (encrypted). */
  linkWriteBytes: number;
}

/** Parses the reply lines of `state` (without `END`); returns the last (current) state or undefined. */
export function parseState(lines: readonly string[]): ManagementState | undefined {
  const data = lines.filter((l) => l.length > 0 && !l.startsWith('>'));
  const last = data.at(-1);
  if (!last) return undefined;
  const f = last.split(',');
  const at = Number(f[0]);
  if (!Number.isFinite(at) || f.length < 2) return undefined;
  const port = f[5] ? Number(f[5]) : NaN;
  return {
    at: at * 1000,
    state: f[1] ?? '',
    description: f[2] ?? '',
    localTunnelIp: f[3] ?? '',
    remoteHost: f[4] ?? '',
    remotePort: Number.isInteger(port) && port > 0 ? port : undefined,
  };
}

/** Parses the reply lines of `status` (p2p `OpenVPN STATISTICS` block). Missing counters are 0. */
export function parseStatus(lines: readonly string[]): ManagementStatus {
  const map = new Map<string, number>();
  for (const line of lines) {
    const comma = line.lastIndexOf(',');
    if (comma < 0) continue;
    const n = Number(line.slice(comma + 1));
    if (Number.isFinite(n)) map.set(line.slice(0, comma).trim(), n);
  }
  return {
    tunReadBytes: map.get('TUN/TAP read bytes') ?? 0,
    tunWriteBytes: map.get('TUN/TAP write bytes') ?? 0,
    linkReadBytes: map.get('TCP/UDP read bytes') ?? 0,
    linkWriteBytes: map.get('TCP/UDP write bytes') ?? 0,
  };
}

/**
 * Connects to a management socket, sends each command after the banner and collects its reply.
 * `state`/`status`/`version` replies end at `END`; other commands at a `SUCCESS:`/`ERROR:` line.
 * @returns one array of lines per command (terminator excluded).
 * @throws Error when the socket cannot be reached or the deadline passes.
 */
export function queryManagement(socketPath: string, commands: readonly string[], timeoutMs = 2000): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const replies: string[][] = [];
    let current: string[] = [];
    let buffer = '';
    let bannerSeen = false;
    let index = 0;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(replies);
    };
    const timer = setTimeout(() => finish(new Error(`management socket ${socketPath}: no reply within ${timeoutMs} ms`)), timeoutMs);
    const multiLine = (cmd: string): boolean => /^(state|status|version|log|echo|help)\b/.test(cmd);
    const sendNext = (): void => {
      if (index >= commands.length) {
        sock.end('quit\n');
        finish();
        return;
      }
      sock.write(`${commands[index]}\n`);
    };
    sock.setEncoding('utf8');
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(index >= commands.length ? undefined : new Error(`management socket ${socketPath} closed early`)));
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (!bannerSeen) {
          if (line.startsWith('>INFO:')) {
            bannerSeen = true;
            sendNext();
          }
          continue;
        }
        if (line.startsWith('>')) continue;
        const cmd = commands[index] ?? '';
        const ends = multiLine(cmd) ? line === 'END' : /^(SUCCESS|ERROR):/.test(line);
        if (!multiLine(cmd)) current.push(line);
        else if (!ends) current.push(line);
        if (ends || (multiLine(cmd) && line.startsWith('ERROR:'))) {
          replies.push(current);
          current = [];
          index += 1;
          sendNext();
        }
      }
    });
  });
}
