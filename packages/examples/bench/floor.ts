/**
 * The "floor": Signal's v3 key schedule (X3DH + Double Ratchet, libsignal's KDF labels, MAC
 * over both identity keys and the message, AES-256-CBC) on bare primitives and nothing else —
 * no protobuf (a fixed byte layout), no store (state lives in a Map of plain objects and is
 * mutated in place), no input checks beyond the MAC, no copies it does not need. What Parley
 * does on top (encoding, versioned records, atomic commits, copy-on-write state, guards) is
 * the distance between the two.
 *
 * Two sets of primitives:
 * - node: node:crypto only. Own private keys are held as KeyObjects for their whole life
 *   (imported once from JWK at generation); each received public key is imported once.
 * - noble: @noble/curves, @noble/hashes and @noble/ciphers only (the portable provider's
 *   libraries; imported by path from @parley/core's dependencies, as they are not
 *   dependencies of the examples package).
 *
 * Bundle signatures: the floor verifies a plain Ed25519 signature over the signed prekey with
 * the responder's Ed25519 key (imported from bytes per bundle). The XEdDSA step of converting
 * the Montgomery identity key to Edwards form is not counted; signing happens when bundles
 * are made, which no workload times.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { cbc } from '../../core/node_modules/@noble/ciphers/aes.js';
import { ed25519, x25519 } from '../../core/node_modules/@noble/curves/ed25519.js';
import { hkdf } from '../../core/node_modules/@noble/hashes/hkdf.js';
import { hmac } from '../../core/node_modules/@noble/hashes/hmac.js';
import { sha256 } from '../../core/node_modules/@noble/hashes/sha2.js';
import type { PeerAddress } from '../../core/test/peers/types.js';
import type { BenchParty } from './libs.js';

interface Primitives<Priv, Pub> {
  /** A fresh X25519 key pair; `publicKey` is the raw 32-byte u-coordinate. */
  generate(): { privateKey: Priv; publicKey: Uint8Array };
  importPublic(raw: Uint8Array): Pub;
  dh(privateKey: Priv, publicKey: Pub): Uint8Array;
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** HMAC-SHA256 over the concatenation of `parts`. */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  aesEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  aesDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** Ed25519 key for signing bundles (untimed): raw public key and a signing function. */
  signer(): { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array };
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  macEqual(a: Uint8Array, b: Uint8Array): boolean;
}

const b64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

const nodePrimitives: Primitives<KeyObject, KeyObject> = {
  generate() {
    const privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: randomBytes(32).toString('base64url'), x: '' },
      format: 'jwk',
    });
    const jwk = privateKey.export({ format: 'jwk' });
    return { privateKey, publicKey: Buffer.from(jwk.x!, 'base64url') };
  },
  importPublic: (raw) => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64(raw) }, format: 'jwk' }),
  dh: (privateKey, publicKey) => diffieHellman({ privateKey, publicKey }),
  hkdf: (ikm, salt, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  hmac(key, ...parts) {
    const h = createHmac('sha256', key);
    for (const part of parts) h.update(part);
    return h.digest();
  },
  aesEncrypt(key, iv, plaintext) {
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    return Buffer.concat([cipher.update(plaintext), cipher.final()]);
  },
  aesDecrypt(key, iv, ciphertext) {
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  },
  signer() {
    const key = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: randomBytes(32).toString('base64url'), x: '' },
      format: 'jwk',
    });
    const publicKey = Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
    return { publicKey, sign: (message) => nodeSign(null, message, key) };
  },
  verify: (publicKey, message, signature) =>
    nodeVerify(
      null,
      message,
      createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64(publicKey) }, format: 'jwk' }),
      signature,
    ),
  macEqual: (a, b) => a.length === b.length && timingSafeEqual(a, b),
};

const noblePrimitives: Primitives<Uint8Array, Uint8Array> = {
  generate() {
    const privateKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  },
  importPublic: (raw) => raw,
  dh: (privateKey, publicKey) => x25519.getSharedSecret(privateKey, publicKey),
  hkdf: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  hmac(key, ...parts) {
    const h = hmac.create(sha256, key);
    for (const part of parts) h.update(part);
    return h.digest();
  },
  aesEncrypt: (key, iv, plaintext) => cbc(key, iv).encrypt(plaintext),
  aesDecrypt: (key, iv, ciphertext) => cbc(key, iv).decrypt(ciphertext),
  signer() {
    const secretKey = ed25519.utils.randomSecretKey();
    return {
      publicKey: ed25519.getPublicKey(secretKey),
      sign: (message) => ed25519.sign(message, secretKey),
    };
  },
  verify: (publicKey, message, signature) => ed25519.verify(signature, message, publicKey),
  macEqual(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
    return diff === 0;
  },
};

const DISCONTINUITY = new Uint8Array(32).fill(0xff);
const ZERO_SALT = new Uint8Array(32);
const INFO_TEXT = new TextEncoder().encode('WhisperText');
const INFO_RATCHET = new TextEncoder().encode('WhisperRatchet');
const INFO_MESSAGE_KEYS = new TextEncoder().encode('WhisperMessageKeys');
const MESSAGE_KEY_SEED = Uint8Array.of(1);
const CHAIN_KEY_SEED = Uint8Array.of(2);
const VERSION_BYTE = 0x33;
/** Offsets of the fixed message layout: version ‖ ratchet key (33) ‖ counter ‖ previous counter ‖ ciphertext. */
const HEADER_LENGTH = 1 + 33 + 4 + 4;

function serialized(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = 5;
  out.set(raw, 1);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface FloorBundle {
  readonly identityKey: Uint8Array;
  readonly signingKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly signedPreKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly preKeyId: number;
  readonly preKey: Uint8Array;
}

interface FloorPreKeyHeader {
  readonly identityKey: Uint8Array;
  readonly baseKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly preKeyId: number;
}

interface FloorMessage {
  readonly preKey?: FloorPreKeyHeader | undefined;
  readonly body: Uint8Array;
  readonly mac: Uint8Array;
}

interface Receiver {
  readonly ratchetKey: Uint8Array;
  chainKey: Uint8Array;
  index: number;
  readonly skipped: Map<number, Uint8Array>;
}

interface FloorSession<Priv> {
  readonly baseKey: Uint8Array;
  /** sender identity ‖ receiver identity for outgoing MACs, and the reverse for incoming. */
  readonly macPrefixOut: Uint8Array;
  readonly macPrefixIn: Uint8Array;
  rootKey: Uint8Array;
  senderPrivate: Priv;
  senderPublic: Uint8Array;
  senderChainKey: Uint8Array;
  senderIndex: number;
  previousCounter: number;
  readonly receivers: Receiver[];
  pending?: FloorPreKeyHeader | undefined;
}

const MAX_RECEIVERS = 5;

function createFloorParty<Priv, Pub>(p: Primitives<Priv, Pub>, address: PeerAddress): BenchParty {
  const identity = p.generate();
  const identity33 = serialized(identity.publicKey);
  const signer = p.signer();
  const signedPreKeys = new Map<number, Priv>();
  const signedPublic = new Map<number, Uint8Array>();
  const preKeys = new Map<number, Priv>();
  const sessions = new Map<string, FloorSession<Priv>>();
  let nextId = 1;
  const keyOf = (a: PeerAddress) => `${a.name}.${a.deviceId}`;

  function rootStep(rootKey: Uint8Array, secret: Uint8Array): { rootKey: Uint8Array; chainKey: Uint8Array } {
    const okm = p.hkdf(secret, rootKey, INFO_RATCHET, 64);
    return { rootKey: okm.subarray(0, 32), chainKey: okm.subarray(32, 64) };
  }

  function macPrefixes(remoteIdentity33: Uint8Array): { out: Uint8Array; in: Uint8Array } {
    const out = new Uint8Array(66);
    out.set(identity33, 0);
    out.set(remoteIdentity33, 33);
    const inbound = new Uint8Array(66);
    inbound.set(remoteIdentity33, 0);
    inbound.set(identity33, 33);
    return { out, in: inbound };
  }

  function respond(header: FloorPreKeyHeader): FloorSession<Priv> {
    const signed = signedPreKeys.get(header.signedPreKeyId);
    const oneTime = preKeys.get(header.preKeyId);
    if (signed === undefined || oneTime === undefined) throw new Error('floor: unknown prekey');
    preKeys.delete(header.preKeyId);
    const remoteIdentity = p.importPublic(header.identityKey);
    const base = p.importPublic(header.baseKey);
    const master = Buffer.concat([
      DISCONTINUITY,
      p.dh(signed, remoteIdentity),
      p.dh(identity.privateKey, base),
      p.dh(signed, base),
      p.dh(oneTime, base),
    ]);
    const okm = p.hkdf(master, ZERO_SALT, INFO_TEXT, 64);
    const prefixes = macPrefixes(serialized(header.identityKey));
    return {
      baseKey: header.baseKey,
      macPrefixOut: prefixes.out,
      macPrefixIn: prefixes.in,
      rootKey: okm.subarray(0, 32),
      senderPrivate: signed,
      senderPublic: serialized(signedPublic.get(header.signedPreKeyId)!),
      senderChainKey: okm.subarray(32, 64),
      senderIndex: 0,
      previousCounter: 0,
      receivers: [],
    };
  }
  function ratchetStep(session: FloorSession<Priv>, ratchetKey33: Uint8Array): Receiver {
    const theirs = p.importPublic(ratchetKey33.subarray(1));
    const receiving = rootStep(session.rootKey, p.dh(session.senderPrivate, theirs));
    const ours = p.generate();
    const sending = rootStep(receiving.rootKey, p.dh(ours.privateKey, theirs));
    const chain: Receiver = {
      ratchetKey: ratchetKey33.slice(),
      chainKey: receiving.chainKey,
      index: 0,
      skipped: new Map(),
    };
    session.receivers.push(chain);
    if (session.receivers.length > MAX_RECEIVERS) session.receivers.shift();
    session.rootKey = sending.rootKey;
    session.previousCounter = Math.max(session.senderIndex - 1, 0);
    session.senderPrivate = ours.privateKey;
    session.senderPublic = serialized(ours.publicKey);
    session.senderChainKey = sending.chainKey;
    session.senderIndex = 0;
    return chain;
  }

  function messageSeed(chain: Receiver, counter: number): Uint8Array {
    if (counter < chain.index) {
      const seed = chain.skipped.get(counter);
      if (seed === undefined) throw new Error('floor: duplicate message');
      chain.skipped.delete(counter);
      return seed;
    }
    while (chain.index < counter) {
      chain.skipped.set(chain.index, p.hmac(chain.chainKey, MESSAGE_KEY_SEED));
      chain.chainKey = p.hmac(chain.chainKey, CHAIN_KEY_SEED);
      chain.index++;
    }
    const seed = p.hmac(chain.chainKey, MESSAGE_KEY_SEED);
    chain.chainKey = p.hmac(chain.chainKey, CHAIN_KEY_SEED);
    chain.index++;
    return seed;
  }

  return {
    address,

    createBundle(): FloorBundle {
      const id = nextId++;
      const signed = p.generate();
      const oneTime = p.generate();
      signedPreKeys.set(id, signed.privateKey);
      signedPublic.set(id, signed.publicKey);
      preKeys.set(id, oneTime.privateKey);
      return {
        identityKey: identity.publicKey,
        signingKey: signer.publicKey,
        signedPreKeyId: id,
        signedPreKey: signed.publicKey,
        signature: signer.sign(serialized(signed.publicKey)),
        preKeyId: id,
        preKey: oneTime.publicKey,
      };
    },

    processBundle(remote, value) {
      const bundle = value as FloorBundle;
      if (!p.verify(bundle.signingKey, serialized(bundle.signedPreKey), bundle.signature)) {
        throw new Error('floor: bad bundle signature');
      }
      const remoteIdentity = p.importPublic(bundle.identityKey);
      const signedPreKey = p.importPublic(bundle.signedPreKey);
      const oneTime = p.importPublic(bundle.preKey);
      const base = p.generate();
      const master = Buffer.concat([
        DISCONTINUITY,
        p.dh(identity.privateKey, signedPreKey),
        p.dh(base.privateKey, remoteIdentity),
        p.dh(base.privateKey, signedPreKey),
        p.dh(base.privateKey, oneTime),
      ]);
      const okm = p.hkdf(master, ZERO_SALT, INFO_TEXT, 64);
      const ratchet = p.generate();
      const sending = rootStep(okm.subarray(0, 32), p.dh(ratchet.privateKey, signedPreKey));
      const prefixes = macPrefixes(serialized(bundle.identityKey));
      sessions.set(keyOf(remote), {
        baseKey: base.publicKey,
        macPrefixOut: prefixes.out,
        macPrefixIn: prefixes.in,
        rootKey: sending.rootKey,
        senderPrivate: ratchet.privateKey,
        senderPublic: serialized(ratchet.publicKey),
        senderChainKey: sending.chainKey,
        senderIndex: 0,
        previousCounter: 0,
        receivers: [
          {
            ratchetKey: serialized(bundle.signedPreKey),
            chainKey: okm.subarray(32, 64),
            index: 0,
            skipped: new Map(),
          },
        ],
        pending: {
          identityKey: identity.publicKey,
          baseKey: base.publicKey,
          signedPreKeyId: bundle.signedPreKeyId,
          preKeyId: bundle.preKeyId,
        },
      });
    },

    encrypt(remote, plaintext): FloorMessage {
      const session = sessions.get(keyOf(remote));
      if (!session) throw new Error('floor: no session');
      const seed = p.hmac(session.senderChainKey, MESSAGE_KEY_SEED);
      const keys = p.hkdf(seed, ZERO_SALT, INFO_MESSAGE_KEYS, 80);
      const ciphertext = p.aesEncrypt(keys.subarray(0, 32), keys.subarray(64, 80), plaintext);
      const body = new Uint8Array(HEADER_LENGTH + ciphertext.length);
      const view = new DataView(body.buffer);
      body[0] = VERSION_BYTE;
      body.set(session.senderPublic, 1);
      view.setUint32(34, session.senderIndex);
      view.setUint32(38, session.previousCounter);
      body.set(ciphertext, HEADER_LENGTH);
      const mac = p.hmac(keys.subarray(32, 64), session.macPrefixOut, body).subarray(0, 8);
      session.senderChainKey = p.hmac(session.senderChainKey, CHAIN_KEY_SEED);
      session.senderIndex++;
      return { preKey: session.pending, body, mac };
    },

    decrypt(remote, value) {
      const message = value as FloorMessage;
      const key = keyOf(remote);
      let session = sessions.get(key);
      if (message.preKey && (!session || !sameBytes(session.baseKey, message.preKey.baseKey))) {
        session = respond(message.preKey);
        sessions.set(key, session);
      }
      if (!session) throw new Error('floor: no session');
      const body = message.body;
      if (body[0] !== VERSION_BYTE) throw new Error('floor: bad version');
      const ratchetKey = body.subarray(1, 34);
      const counter = new DataView(body.buffer, body.byteOffset).getUint32(34);
      let chain = session.receivers.find((candidate) => sameBytes(candidate.ratchetKey, ratchetKey));
      chain ??= ratchetStep(session, ratchetKey);
      const keys = p.hkdf(messageSeed(chain, counter), ZERO_SALT, INFO_MESSAGE_KEYS, 80);
      const mac = p.hmac(keys.subarray(32, 64), session.macPrefixIn, body).subarray(0, 8);
      if (!p.macEqual(mac, message.mac)) throw new Error('floor: bad MAC');
      const plaintext = p.aesDecrypt(
        keys.subarray(0, 32),
        keys.subarray(64, 80),
        body.subarray(HEADER_LENGTH),
      );
      session.pending = undefined;
      return plaintext;
    },
  };
}

export function createNodeFloorParty(address: PeerAddress): BenchParty {
  return createFloorParty(nodePrimitives, address);
}

export function createNobleFloorParty(address: PeerAddress): BenchParty {
  return createFloorParty(noblePrimitives, address);
}
