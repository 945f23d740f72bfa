/**
 * What the page and the server say to each other: JSON, with bytes as base64. Shared by
 * `server.ts` (Node) and `page.ts` (bundled for the browser), so it imports nothing.
 *
 * HTTP
 *   GET  /api/config               → Config
 *   POST /api/keys                 DeviceKeysJson → 204   (a person's device publishes prekeys)
 *   GET  /api/bundle/:number       → BundleJson           (consumes one one-time prekey)
 *   POST /api/frames               FrameJson → { outcome } (a person's device sends to the business)
 * WebSocket /api/inbox?phone=…&device=…
 *   server → page  PushedFrame      (frames stay queued until the page sends a receipt)
 *   page → server  ReceiptJson
 */

export interface Config {
  /** Changes every time the server starts; the page keeps one IndexedDB database per instance. */
  readonly instance: string;
  readonly businessName: string;
  readonly businessNumber: string;
}

export interface SignedKeyJson {
  readonly id: number;
  readonly publicKey: string;
  readonly signature: string;
}

export interface DeviceKeysJson {
  readonly phoneNumber: string;
  readonly deviceId: number;
  readonly registrationId: number;
  readonly identityKey: string;
  readonly signedPreKey: SignedKeyJson;
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: string }[];
  /** Optional last-resort Kyber prekey: lets the gateway start PQXDH sessions with the device. */
  readonly kyberPreKey?: SignedKeyJson | undefined;
}

export interface BundleJson {
  readonly registrationId: number;
  readonly deviceId: number;
  readonly identityKey: string;
  readonly signedPreKeyId: number;
  readonly signedPreKey: string;
  readonly signedPreKeySignature: string;
  readonly preKeyId?: number | undefined;
  readonly preKey?: string | undefined;
  readonly kyberPreKeyId?: number | undefined;
  readonly kyberPreKey?: string | undefined;
  readonly kyberPreKeySignature?: string | undefined;
}

export interface FrameJson {
  /** Chosen by the sending device; re-sending the same frame uses the same id. */
  readonly frameId: string;
  readonly from: string;
  readonly deviceId: number;
  readonly to: string;
  /** 2 = whisper, 3 = prekey. */
  readonly type: 2 | 3;
  readonly body: string;
}

export interface PushedFrame {
  readonly kind: 'frame';
  readonly frameId: string;
  /** The business number. */
  readonly from: string;
  /** 2 whisper, 3 prekey, 8 a decryption-error message from the business (no content). */
  readonly type: 2 | 3 | 8;
  readonly body: string;
}

export interface ReceiptJson {
  readonly kind: 'receipt';
  readonly frameId: string;
}

export interface ErrorJson {
  readonly error: string;
}

export const PHONE_NUMBER = /^\+[1-9][0-9]{3,14}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  if (!BASE64.test(text)) throw new TypeError('not base64');
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
