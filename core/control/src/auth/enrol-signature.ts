/**
 * What a node signs to enrol: the RFC 8785 canonical JSON of
 * `{ context: "rustynet-enrol-v1", challenge, identityKey, name, keys, endpoints, probePort? }`
 * with its Ed25519 identity key. Proves possession of the identity key and binds the challenge
 * to the exact registration data.
 */
import { netmapSigningBytes } from '@rustynet/daemon';
import type { Endpoint } from '@rustynet/plugin-api';

/** Domain separation string of enrolment signatures. */
export const ENROL_SIGNING_CONTEXT = 'rustynet-enrol-v1';

/** The signed fields of an enrolment. */
export interface EnrolSignedFields {
  challenge: string;
  identityKey: string;
  name: string;
  keys: Record<string, string>;
  endpoints: Endpoint[];
  probePort?: number;
}

/** The bytes an enrolment signature covers (canonical JSON, reusing the daemon's JCS encoder). */
export function enrolSigningBytes(f: EnrolSignedFields): Buffer {
  return netmapSigningBytes({
    context: ENROL_SIGNING_CONTEXT,
    challenge: f.challenge,
    identityKey: f.identityKey,
    name: f.name,
    keys: f.keys,
    endpoints: f.endpoints,
    ...(f.probePort !== undefined && { probePort: f.probePort }),
  });
}
