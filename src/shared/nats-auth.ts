/**
 * NATS identities: the control plane is the authority of its NATS account (decentralised JWT
 * auth, "operator mode": NATS docs, "Decentralized JWT Authentication/Authorization").
 *
 * - One operator, one application account (`NEOCLOUD`, JetStream enabled) and the system account,
 *   each an nkey (Ed25519) whose seed the control plane keeps in its database (settings
 *   `nats.authority`): every control plane of a deployment shares them. The server trusts the
 *   operator and has both account JWTs preloaded (`natsServerConfig`); it learns users from the
 *   JWTs they present, so enrolling an agent needs no server change or reload.
 * - Users are JWTs the account signs: the control plane's own (no limits within the account: it
 *   creates streams and consumers, consumes, publishes events and commands) and one per agent at
 *   enrolment, whose only rights are to publish its node's telemetry subject and subscribe to its
 *   node's command subject and its own reply inbox (`_INBOX_<agentId>.>`, where JetStream's
 *   publish acknowledgements come; the agent connects with that `inboxPrefix`). Nobody without a
 *   JWT the account signed can connect at all.
 * - Commands to agents are signed with the command key (Ed25519, node:crypto: a signature costs
 *   tens of µs, so receipts can be signed too); the agent learns its public key at enrolment.
 *
 * JWTs are encoded here (header, claims, Ed25519 signature by the issuer's nkey, base64url) rather
 * than with `@nats-io/jwt`, which is pre-1.0 (0.0.x) and not installed; the nkeys are the `nats`
 * client's own (`nkeys.js`, already a dependency of `nats`).
 */
import type { Authenticator } from 'nats';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';

/** The part of nkeys.js used here (the `nats` package re-exports it untyped). */
interface KeyPair {
  getPublicKey(): string;
  getSeed(): Uint8Array;
  sign(data: Uint8Array): Uint8Array;
}
interface Nkeys {
  createOperator(): KeyPair;
  createAccount(): KeyPair;
  createUser(): KeyPair;
  fromSeed(seed: Uint8Array): KeyPair;
}
/** Loaded on first use: a control plane or agent without NATS never loads the client (~100 ms). */
const loadNkeys = async (): Promise<Nkeys> => (await import('nats')).nkeys as Nkeys;

/** What the database keeps (settings `nats.authority`): nkey seeds (`SO…`, `SA…`) and the command key's raw Ed25519 seed (base64). */
export interface NatsAuthoritySeeds {
  operator: string;
  account: string;
  system: string;
  command: string;
}

/** An agent's NATS identity: its user JWT and nkey seed (a `.creds` pair), and the inbox prefix its JWT allows. */
export interface NatsUserCredentials {
  jwt: string;
  seed: string;
  inboxPrefix: string;
}

/** Connection options carrying a user's identity (spread into `connect`). */
export interface NatsConnectAuth {
  authenticator: Authenticator;
  inboxPrefix?: string;
}

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');
const te = new TextEncoder();

/** RFC 4648 base32 without padding (what NATS uses for a JWT's `jti`). */
function base32(b: Uint8Array): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let v = 0;
  let out = '';
  for (const x of b) {
    v = (v << 8) | x;
    bits += 8;
    while (bits >= 5) { out += A[(v >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += A[(v << (5 - bits)) & 31];
  return out;
}

/** A NATS JWT (v2 claims) for `sub`, signed by `issuer`. `nats` holds the type-specific claims. */
function encodeJwt(issuer: KeyPair, sub: string, name: string, nats: Record<string, unknown>, expS?: number): string {
  const claims: Record<string, unknown> = { jti: '', iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub, ...(expS ? { exp: expS } : {}), nats: { ...nats, version: 2 } };
  claims['jti'] = base32(createHash('sha256').update(JSON.stringify(claims)).digest());
  const signed = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${signed}.${b64url(issuer.sign(te.encode(signed)))}`;
}

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SPKI DER prefix of an Ed25519 public key (RFC 8410): the 32-byte key follows. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The command key's public half as sent to agents: the raw 32 bytes, base64. */
export function commandPublicKeyOf(key: KeyObject): string {
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length).toString('base64');
}

/** The public key an agent was given at enrolment, for node:crypto's verify. */
export function commandVerifyKey(publicKeyB64: string): KeyObject {
  const raw = Buffer.from(publicKeyB64, 'base64');
  if (raw.length !== 32) throw new Error('command key: must be 32 bytes, base64');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Unlimited account limits (−1), JetStream on for the application account. */
const LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const JS_LIMITS = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

export class NatsAuthority {
  private readonly operator: KeyPair;
  private readonly account: KeyPair;
  private readonly system: KeyPair;
  private readonly commandKey: KeyObject;
  /** The command key's public half (base64 of 32 bytes), given to agents at enrolment. */
  readonly commandPublicKey: string;

  private constructor(private readonly nkeys: Nkeys, readonly seeds: NatsAuthoritySeeds) {
    this.operator = nkeys.fromSeed(te.encode(seeds.operator));
    this.account = nkeys.fromSeed(te.encode(seeds.account));
    this.system = nkeys.fromSeed(te.encode(seeds.system));
    const raw = Buffer.from(seeds.command, 'base64');
    if (raw.length !== 32) throw new Error('nats authority: the command seed must be 32 bytes, base64');
    this.commandKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
    this.commandPublicKey = commandPublicKeyOf(this.commandKey);
  }

  /** The authority these seeds make (throws on a malformed seed). */
  static async from(seeds: NatsAuthoritySeeds): Promise<NatsAuthority> {
    return new NatsAuthority(await loadNkeys(), seeds);
  }

  /** New keys: an operator, the application and system accounts, and a command key. */
  static async generate(): Promise<NatsAuthoritySeeds> {
    const nkeys = await loadNkeys();
    const seed = (k: KeyPair): string => new TextDecoder().decode(k.getSeed());
    return { operator: seed(nkeys.createOperator()), account: seed(nkeys.createAccount()), system: seed(nkeys.createAccount()), command: randomBytes(32).toString('base64') };
  }

  /** The application account's public key (`A…`). */
  get accountPublicKey(): string {
    return this.account.getPublicKey();
  }

  /**
   * The nats-server settings that make it trust this authority (operator mode, memory resolver
   * with both accounts preloaded). Include it in the server's config beside `listen` and
   * `jetstream { store_dir: … }`; `neocloud nats-config` prints it.
   */
  serverConfig(): string {
    const sys = this.system.getPublicKey();
    const operatorJwt = encodeJwt(this.operator, this.operator.getPublicKey(), 'neocloud', { type: 'operator', system_account: sys });
    const accountJwt = encodeJwt(this.operator, this.account.getPublicKey(), 'NEOCLOUD', { type: 'account', limits: { ...LIMITS, ...JS_LIMITS }, default_permissions: { pub: {}, sub: {} } });
    const systemJwt = encodeJwt(this.operator, sys, 'SYS', { type: 'account', limits: LIMITS, default_permissions: { pub: {}, sub: {} } });
    return [
      '# neocloud NATS authority (generated by the control plane; every client needs a JWT its account signed)',
      `operator: ${operatorJwt}`,
      `system_account: ${sys}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${this.account.getPublicKey()}: ${accountJwt}`,
      `  ${sys}: ${systemJwt}`,
      '}',
      '',
    ].join('\n');
  }

  /** A user of the application account with these permissions (none given: everything within the account). */
  user(name: string, perms: { pub?: string[]; sub?: string[] } = {}, inboxPrefix = '_INBOX'): NatsUserCredentials {
    const u = this.nkeys.createUser();
    const nats: Record<string, unknown> = { type: 'user', subs: -1, data: -1, payload: -1 };
    if (perms.pub) nats['pub'] = { allow: perms.pub };
    if (perms.sub) nats['sub'] = { allow: perms.sub };
    return { jwt: encodeJwt(this.account, u.getPublicKey(), name, nats), seed: new TextDecoder().decode(u.getSeed()), inboxPrefix };
  }

  /** The control plane's own user: no limits within the account. */
  controlPlaneUser(name = 'control-plane'): NatsUserCredentials {
    return this.user(name);
  }

  /**
   * An agent's user: publishes only its node's telemetry subject; subscribes only to its node's
   * command subject and its own inbox (JetStream's acks to its publishes).
   */
  agentUser(agentId: string, telemetrySubject: string, commandSubject: string): NatsUserCredentials {
    const inboxPrefix = `_INBOX_${agentId}`;
    return this.user(agentId, { pub: [telemetrySubject], sub: [commandSubject, `${inboxPrefix}.>`] }, inboxPrefix);
  }

  /** Signs a command's bytes (Ed25519); the signature as base64. */
  signCommand(data: Uint8Array): string {
    return sign(null, data, this.commandKey).toString('base64');
  }
}

/** Connection options for a user's credentials (nats.js `jwtAuthenticator`). */
export async function natsConnectAuth(c: NatsUserCredentials | null | undefined): Promise<NatsConnectAuth | Record<string, never>> {
  // type-only import above; the client is loaded here, on use
  if (!c) return {};
  const { jwtAuthenticator } = await import('nats');
  return { authenticator: jwtAuthenticator(c.jwt, te.encode(c.seed)), inboxPrefix: c.inboxPrefix };
}
