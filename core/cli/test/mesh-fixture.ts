/**
 * The set-up the CLI's integration suites share: a started mesh for one `describe`, and the
 * accessor that says why there is none when its before-all hook failed.
 */
import { fileURLToPath } from 'node:url';
import { Mesh, checkPrerequisites, relayUnsupportedReason, type MeshOptions } from '@rustynet/testbed';

/** The repository root (the suites run from `core/cli/dist/test`). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** What {@link startMesh} passes on to `Mesh.create`; `backends` defaults to `[backend]`. */
export type StartMeshOptions = Omit<MeshOptions, 'backends' | 'cwd'> & { backends?: string[] };

/** What {@link startMesh} does between publishing the netmap and starting the daemons. */
export interface StartMeshSteps {
  /** Runs before the daemons start (e.g. nftables blocks in the nodes' namespaces). */
  beforeDaemons?: (mesh: Mesh) => Promise<unknown>;
  /** Start every daemon (default true); false leaves that to the test. */
  daemons?: boolean;
}

/**
 * Checks the prerequisites of `options.backends` (DNS too when `options.dns`), creates the
 * mesh, publishes netmap `version` signed by its control-plane key, and starts every daemon with
 * `backend` (see {@link StartMeshSteps}). A failure after the mesh exists destroys it before
 * rethrowing, so a failed before-all hook leaves no namespace behind.
 * @throws Error naming the missing prerequisites; whatever `Mesh.create`, `publish` or `startDaemons` throws.
 */
export async function startMesh(backend: string, options: StartMeshOptions = {}, version = 1, steps: StartMeshSteps = {}): Promise<Mesh> {
  const backends = options.backends ?? [backend];
  const problems = checkPrerequisites(backends, { dns: options.dns === true });
  if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
  const mesh = await Mesh.create({ ...options, backends, cwd: REPO_ROOT });
  try {
    await mesh.publish(await mesh.sign(mesh.netmap(version)));
    await steps.beforeDaemons?.(mesh);
    if (steps.daemons !== false) await mesh.startDaemons(backend, version);
    return mesh;
  } catch (err) {
    await mesh.destroy();
    throw err;
  }
}

/**
 * The suite's mesh, or an error that points at the before-all hook that failed to make it.
 * @throws Error when `mesh` is undefined.
 */
export function created(mesh: Mesh | undefined): Mesh {
  if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
  return mesh;
}

/**
 * Declares the suite `body` once per backend (`describe(title(backend))`), for suites that use the
 * relay; a backend that is not built or does not claim what the relay needs (`udpTransport`,
 * `roaming`) gets a pending test with the reason instead. Call with top-level `await`.
 */
export async function describeEachRelayBackend(
  backends: string[],
  title: (backend: string) => string,
  body: (this: Mocha.Suite, backend: string) => void,
): Promise<void> {
  const reasons = await Promise.all(backends.map((b) => relayUnsupportedReason(b, REPO_ROOT)));
  backends.forEach((backend, i) => {
    const reason = reasons[i];
    if (reason) {
      describe(title(backend), () => {
        it(`skipped: ${reason}`);
      });
    } else {
      describe(title(backend), function () {
        body.call(this, backend);
      });
    }
  });
}
