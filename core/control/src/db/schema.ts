/**
 * The control plane's tables, as Kysely sees them. JSON columns hold text (portable between
 * SQLite and PostgreSQL); times are Unix milliseconds.
 */
import type { Generated } from 'kysely';
import type { AuditTables } from '../audit/audit-schema.js';

/** One row: the control plane's own state (id is always 1). */
export interface MetaTable {
  id: number;
  /** The last netmap version issued (persisted before it is served). */
  version: number;
  /** When the current version was issued (ms). */
  issued_at: number;
  /** This control plane's IPv6 ULA /48 prefix, e.g. `fd12:3456:789a::`. Fixed at first start. */
  ula_prefix: string;
  /** Next overlay host index to allocate (monotonic: removed nodes' addresses are not reused). */
  next_host: number;
  /** Stable ACL document (JSON `{rules, tests?}`), or null: no ACL (deny). */
  acl: string | null;
  /** Canary ACL document (JSON), or null. */
  canary_acl: string | null;
  /** Tag whose nodes get the canary ACL, or null. */
  canary_tag: string | null;
}

/** Pre-auth keys. The key itself is never stored: only its SHA-256. */
export interface AuthKeyTable {
  id: string;
  /** Hex SHA-256 of the key text. */
  hash: string;
  reusable: number;
  /** JSON array of tags given to nodes enrolled with this key. */
  tags: string;
  created_at: number;
  expires_at: number | null;
  used_at: number | null;
  /** Count of enrolments made with this key. */
  uses: Generated<number>;
}

/** Enrolled nodes. */
export interface NodeTable {
  id: string;
  name: string;
  /** Raw 32-byte Ed25519 identity public key, base64. */
  identity_key: string;
  /** JSON object: protocol id -> opaque backend public key. */
  keys: string;
  /** JSON array of endpoints the node reports. */
  endpoints: string;
  /** JSON array of tags. */
  tags: string;
  /** Overlay IPv4 host address (no prefix length). */
  ipv4: string;
  /** Overlay IPv6 host address (no prefix length). */
  ipv6: string;
  probe_port: number | null;
  created_at: number;
  updated_at: number;
  /** When an admin expired the node (it must re-enrol), or null. */
  expired_at: number | null;
  /** Id of the auth key the node enrolled with last. */
  auth_key_id: string;
  /** When the node last proved its keys (enrolment or rotation); NULL: `created_at`. Migration 0002. */
  key_issued_at: number | null;
}

/** Control-plane signing keys in a rotation (public keys only; see keys/rotation-store.ts). */
export interface SigningKeyTable {
  /** Raw Ed25519 public key, base64. */
  public_key: string;
  /** `current`, `next`, `previous` or `retired`. */
  role: string;
  created_at: number;
  /** First version announcing it as `next`. */
  announced_version: number | null;
  /** First version signed with it as `current`. */
  switched_version: number | null;
}

/** Which node fetched a map of a rotation phase (a poll with `after` at or above its version). */
export interface SigningKeyAckTable {
  public_key: string;
  node_id: string;
  /** `announced` or `switched`. */
  phase: string;
  /** The version the node acknowledged. */
  version: number;
  at: number;
}

/** Nonces of signed node requests, shared by the instances on one PostgreSQL database (migration 0005). */
export interface RequestNonceTable {
  /** The requesting node's identity key (raw Ed25519 public key, base64). */
  identity_key: string;
  /** The request's `x-rustynet-nonce`. */
  nonce: string;
  /** When the row may be pruned (Unix ms): after that the request's timestamp is stale anyway. */
  expires_at: number;
}

/** The database as Kysely types it. */
export interface ControlDatabase extends AuditTables {
  meta: MetaTable;
  auth_keys: AuthKeyTable;
  nodes: NodeTable;
  signing_keys: SigningKeyTable;
  signing_key_acks: SigningKeyAckTable;
  request_nonces: RequestNonceTable;
}
