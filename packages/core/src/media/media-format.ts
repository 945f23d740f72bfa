/**
 * The WhatsApp family's media blob: AES-256-CBC(plaintext, PKCS#7) ‖ the first 10 bytes of
 * HMAC-SHA256(macKey, IV ‖ ciphertext). The IV is derived from the media key, never stored.
 * `fileSha256` is SHA-256 of the plaintext, `fileEncSha256` SHA-256 of the whole blob.
 */

/** The random key a sender draws for each file (and carries in the message). */
export const MEDIA_KEY_LENGTH = 32;
/** Bytes of HMAC-SHA256 kept at the end of a blob. */
export const MEDIA_MAC_LENGTH = 10;
/** SHA-256 digests in a pointer. */
export const MEDIA_HASH_LENGTH = 32;
const BLOCK = 16;

/** Length of the blob for a plaintext of `fileLength` bytes (PKCS#7 always adds 1–16 bytes). */
export function encryptedLength(fileLength: number): number {
  return (Math.floor(fileLength / BLOCK) + 1) * BLOCK + MEDIA_MAC_LENGTH;
}

/**
 * Largest plaintext Parley handles in one file: 2^40 bytes. Far above any messaging network's
 * limit (WhatsApp documents stop at 2 GB); it only keeps every length a safe integer.
 */
export const MAX_MEDIA_FILE_LENGTH = 2 ** 40;
