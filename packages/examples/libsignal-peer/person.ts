/**
 * What this example needs from a person's phone: a Signal-protocol client that publishes
 * prekeys, starts a session from a bundle, and encrypts and decrypts 1:1 messages. Two real
 * implementations stand behind it (./person-lsc.ts, ./person-libsignal-node.ts); neither
 * shares any code with Parley.
 */
import type { PreKeyBundle } from '@parley/core';

export interface Address {
  readonly name: string;
  readonly deviceId: number;
}

/** A message on the wire, libsignal numbering: 2 = whisper (SignalMessage), 3 = prekey. */
export interface WireMessage {
  readonly type: 2 | 3;
  readonly body: Uint8Array;
}

/** What a device uploads to the key directory (neither library here has Kyber prekeys). */
export interface DeviceKeys {
  readonly deviceId: number;
  readonly registrationId: number;
  /** 33 bytes, 0x05-prefixed. */
  readonly identityKey: Uint8Array;
  readonly signedPreKey: {
    readonly id: number;
    readonly publicKey: Uint8Array;
    readonly signature: Uint8Array;
  };
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[];
}

export interface PersonDevice {
  /** e.g. "@signalapp/libsignal-client 0.23.1". */
  readonly library: string;
  readonly deviceId: number;
  /** A signed prekey and `count` one-time prekeys, kept by the device; public halves returned. */
  createKeys(count: number): Promise<DeviceKeys>;
  /** Starts a session from a bundle fetched from the directory. */
  startSession(remote: Address, bundle: PreKeyBundle): Promise<void>;
  hasSession(remote: Address): Promise<boolean>;
  encrypt(remote: Address, plaintext: Uint8Array): Promise<WireMessage>;
  decrypt(remote: Address, message: WireMessage): Promise<Uint8Array>;
}

/** A 14-bit registration id in libsignal's range (1–16380). */
export function randomRegistrationId(): number {
  const buf = new Uint16Array(1);
  globalThis.crypto.getRandomValues(buf);
  return (buf[0]! % 16380) + 1;
}
