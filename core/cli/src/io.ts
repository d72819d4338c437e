/**
 * Where the CLI writes. Commands never touch `process.stdout` directly, so tests can run the
 * whole program in-process and read what it printed.
 */
export interface CliIo {
  /** Writes to standard output (data, human tables). */
  out(text: string): void;
  /** Writes to standard error (errors, warnings, progress). */
  err(text: string): void;
  /** Environment used for defaults such as `RUSTYNET_SOCKET`. */
  env: Record<string, string | undefined>;
  /** Reads all of standard input (for `-` file arguments). */
  readStdin(): Promise<string>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The process's own streams and environment. */
export const processIo: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  env: process.env,
  readStdin: () => readAll(process.stdin),
};

let current: CliIo = processIo;

/** The IO of the running CLI invocation. */
export function io(): CliIo {
  return current;
}

/**
 * Runs `fn` with `next` as the CLI's IO, restoring the previous IO afterwards.
 * Used by {@link runCli}; invocations must not overlap.
 */
export async function withIo<T>(next: CliIo, fn: () => Promise<T>): Promise<T> {
  const prev = current;
  current = next;
  try {
    return await fn();
  } finally {
    current = prev;
  }
}

/** Prints `value` as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  current.out(`${JSON.stringify(value, null, 2)}\n`);
}
