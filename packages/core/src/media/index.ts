/**
 * Media in the WhatsApp family's format: encryption, streaming both ways, the pointer a message
 * carries, the blob store contract, and the sealed record that keeps a media key shreddable.
 * Node streams live in `node-streams.ts` (exported from `@parley/core/node` only).
 */

export type {
  BlobInfo,
  BlobListOptions,
  BlobPutOptions,
  BlobRange,
  BlobStore,
  OpenedBlob,
} from './blob-store.js';
export { blobOpener, MAX_BLOB_BYTES } from './blob-store-kit.js';
export type { MediaByteSource, MediaSourceOpener } from './byte-source.js';
export type { EncryptedMedia } from './encrypted-media.js';
export { decryptMedia, encryptMedia } from './media-bytes.js';
export { MediaDecryptor } from './media-decryptor.js';
export { MediaEncryptor, type MediaEncryptorOptions } from './media-encryptor.js';
export type { MediaCheck } from './media-errors.js';
export {
  encryptedLength,
  MAX_MEDIA_FILE_LENGTH,
  MEDIA_HASH_LENGTH,
  MEDIA_KEY_LENGTH,
  MEDIA_MAC_LENGTH,
} from './media-format.js';
export { deriveMediaKeys, EXPANDED_MEDIA_KEY_LENGTH, type MediaKeys } from './media-keys.js';
export type { DecryptMediaOptions, EncryptMediaOptions, MediaProgress } from './media-pipeline.js';
export { SINGLE_PASS_MAX_BYTES } from './media-pipeline.js';
export {
  createMediaPointer,
  describeMediaPointer,
  MEDIA_POINTER_LIMITS,
  type MediaPointer,
} from './media-pointer.js';
export {
  decodeMediaRecord,
  encodeMediaRecord,
  type MediaFields,
  type MediaRecord,
  type MediaSealContext,
  mediaRecordAad,
  openMediaFields,
  sealMediaFields,
} from './media-record.js';
export { decryptMediaStream, encryptMediaStream, type MediaEncryptStream } from './media-streams.js';
export { assertMediaType, isMediaType, MEDIA_TYPES, type MediaType, mediaKeyInfo } from './media-type.js';
export {
  type MediaDescriptor,
  MediaVerifier,
  type MediaVerifierOptions,
  type VerifiedBlob,
} from './media-verifier.js';
export { createMemoryBlobStore, type MemoryBlobStoreOptions } from './memory-blob-store.js';
export { BINDING_SEGMENT_BYTES } from './segment-binding.js';
