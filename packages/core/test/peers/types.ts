/**
 * A uniform, in-memory client over one real Signal-protocol implementation ("peer").
 * Every key and message crosses this interface in libsignal's serialized forms, so a test can
 * hand bytes produced by one library to another (or to Parley) unchanged.
 */
export interface PeerAddress {
  readonly name: string;
  readonly deviceId: number;
}

/** A prekey bundle; all keys in libsignal's serialized forms. */
export interface PeerBundle {
  registrationId: number;
  deviceId: number;
  /** 33 bytes, 0x05-prefixed. */
  identityKey: Uint8Array;
  signedPreKeyId: number;
  /** 33 bytes, 0x05-prefixed. */
  signedPreKey: Uint8Array;
  /** 64 bytes (XEdDSA over the 33-byte serialized signed prekey). */
  signedPreKeySignature: Uint8Array;
  preKeyId?: number;
  /** 33 bytes, 0x05-prefixed. */
  preKey?: Uint8Array;
  kyberPreKeyId?: number;
  /** 1569 bytes, 0x08-prefixed. */
  kyberPreKey?: Uint8Array;
  kyberPreKeySignature?: Uint8Array;
}

/**
 * A message on the wire. libsignal numbering: 2 = whisper (SignalMessage), 3 = prekey
 * (PreKeySignalMessage). The JS libraries use 1 for whisper; their adapters translate.
 */
export interface PeerMessage {
  type: 2 | 3;
  body: Uint8Array;
}

export interface CreateBundleOptions {
  /** Include a fresh one-time EC prekey (default true). */
  oneTimePreKey?: boolean;
  /** Include a Kyber prekey (default: true where the library supports Kyber, else false). */
  kyber?: boolean;
}

export interface PeerClient {
  /** e.g. 'lsc-0.23.1', 'libsignal-6.0.0'. */
  readonly kind: string;
  readonly address: PeerAddress;
  /** 33 bytes, 0x05-prefixed. */
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  /** A fresh bundle: every call uses new, unique prekey ids (signed, one-time and Kyber). */
  createBundle(options?: CreateBundleOptions): Promise<PeerBundle>;
  processBundle(remote: PeerAddress, bundle: PeerBundle): Promise<void>;
  encrypt(remote: PeerAddress, plaintext: Uint8Array): Promise<PeerMessage>;
  decrypt(remote: PeerAddress, message: PeerMessage): Promise<Uint8Array>;
  hasSession(remote: PeerAddress): Promise<boolean>;
  /** Size of the stored, serialized session record (for size measurements); undefined if none. */
  sessionRecordSize(remote: PeerAddress): Promise<number | undefined>;
}

export type PeerFactory = (address: PeerAddress) => Promise<PeerClient>;

/** Identity trust policy of a peer's identity store. */
export type TrustMode = 'tofu' | 'always';

/** 14-bit registration id in libsignal's accepted range (1–16380). */
export function randomRegistrationId(): number {
  const buf = new Uint16Array(1);
  globalThis.crypto.getRandomValues(buf);
  return (buf[0]! % 16380) + 1;
}

export function addressKey(address: PeerAddress): string {
  return `${address.name}.${address.deviceId}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A plain Uint8Array copy (not a Buffer, not a view into a larger pool). */
export function toU8(bytes: Uint8Array | ArrayBuffer): Uint8Array {
  return bytes instanceof ArrayBuffer ? new Uint8Array(bytes.slice(0)) : Uint8Array.from(bytes);
}

/** A Buffer copy (the native and node libraries insist on Buffer instances). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

/** An exact ArrayBuffer copy (the privacyresearch library works on ArrayBuffers). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}
