import type { PreKeyBundle } from '../keys/prekeys.js';
import type { ProtocolAddress } from './address.js';
import {
  type CiphertextMessage,
  type DecryptOptions,
  type DecryptResult,
  MessageType,
  type ProcessBundleResult,
  type SessionManager,
} from './session-manager.js';

/**
 * libsignal-shaped views of a `SessionManager` bound to one remote address, for code that
 * knows libsignal's SessionBuilder / SessionCipher. They add no behaviour of their own.
 */
export class SessionBuilder {
  constructor(
    private readonly sessions: SessionManager,
    readonly remoteAddress: ProtocolAddress,
  ) {}

  /** X3DH (or PQXDH when the bundle carries a signed Kyber prekey) as initiator. */
  processPreKeyBundle(bundle: PreKeyBundle): Promise<ProcessBundleResult> {
    return this.sessions.processBundle(this.remoteAddress, bundle);
  }
}

export class SessionCipher {
  constructor(
    private readonly sessions: SessionManager,
    readonly remoteAddress: ProtocolAddress,
  ) {}

  encrypt(plaintext: Uint8Array): Promise<CiphertextMessage> {
    return this.sessions.encrypt(this.remoteAddress, plaintext);
  }

  decrypt(message: CiphertextMessage, options?: DecryptOptions): Promise<DecryptResult> {
    return this.sessions.decrypt(this.remoteAddress, message, options);
  }

  decryptPreKeySignalMessage(body: Uint8Array, options?: DecryptOptions): Promise<DecryptResult> {
    return this.sessions.decrypt(this.remoteAddress, { type: MessageType.PreKey, body }, options);
  }

  decryptSignalMessage(body: Uint8Array, options?: DecryptOptions): Promise<DecryptResult> {
    return this.sessions.decrypt(this.remoteAddress, { type: MessageType.Whisper, body }, options);
  }

  hasOpenSession(): Promise<boolean> {
    return this.sessions.hasSession(this.remoteAddress);
  }
}
