// Minimal types for the untyped (or wrongly typed) CommonJS Signal libraries used as test peers.
// `libsignal@6.0.0` ships an index.d.ts, but it is inaccurate (encrypt's body is a Buffer, not a
// string; loadSignedPreKey takes the key id; storage methods may be async), so both
// versions are typed here from their JS source.

declare namespace LibsignalNode {
  interface KeyPair {
    pubKey: Buffer;
    privKey: Buffer;
  }
  interface Storage {
    loadSession(id: string): Promise<SessionRecord | undefined>;
    storeSession(id: string, record: SessionRecord): Promise<void>;
    /** Called with the bare name by initOutgoing/encrypt and with "name.device" by initIncoming. */
    isTrustedIdentity(identifier: string, identityKey: Buffer, direction?: number): Promise<boolean>;
    loadPreKey(id: number | undefined): Promise<KeyPair | undefined>;
    removePreKey(id: number): Promise<void>;
    loadSignedPreKey(id: number): Promise<KeyPair | undefined>;
    getOurRegistrationId(): Promise<number>;
    getOurIdentity(): Promise<KeyPair>;
  }
  interface Device {
    identityKey: Buffer;
    registrationId: number;
    signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
    preKey?: { keyId: number; publicKey: Buffer };
  }
  interface SerializedRecord {
    _sessions: Record<string, unknown>;
    version: string;
  }
  interface SessionRecord {
    serialize(): SerializedRecord;
    haveOpenSession(): boolean;
  }
  interface SessionRecordStatic {
    new (): SessionRecord;
    deserialize(data: SerializedRecord): SessionRecord;
  }
  interface ProtocolAddress {
    readonly id: string;
    readonly deviceId: number;
    toString(): string;
  }
  interface SessionCipher {
    /** type 1 = whisper, 3 = prekey; body is a Buffer. */
    encrypt(data: Buffer): Promise<{ type: 1 | 3; body: Buffer; registrationId: number }>;
    decryptPreKeyWhisperMessage(data: Buffer): Promise<Buffer>;
    decryptWhisperMessage(data: Buffer): Promise<Buffer>;
    hasOpenSession(): Promise<boolean>;
  }
  interface SessionBuilder {
    initOutgoing(device: Device): Promise<void>;
  }
  interface Module {
    keyhelper: {
      generateIdentityKeyPair(): KeyPair;
      generateRegistrationId(): number;
      generateSignedPreKey(
        identityKeyPair: KeyPair,
        keyId: number,
      ): { keyId: number; keyPair: KeyPair; signature: Buffer };
      generatePreKey(keyId: number): { keyId: number; keyPair: KeyPair };
    };
    curve: {
      generateKeyPair(): KeyPair;
      calculateSignature(privKey: Buffer, message: Buffer): Buffer;
    };
    ProtocolAddress: new (id: string, deviceId: number) => ProtocolAddress;
    SessionBuilder: new (storage: Storage, address: ProtocolAddress) => SessionBuilder;
    SessionCipher: new (storage: Storage, address: ProtocolAddress) => SessionCipher;
    SessionRecord: SessionRecordStatic;
  }
}

declare module 'libsignal-2' {
  const api: LibsignalNode.Module;
  export default api;
}
