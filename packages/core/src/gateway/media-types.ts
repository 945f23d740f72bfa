import type { MediaType } from '../media/media-type.js';
import type { MessageId } from './types.js';

/** A media id, unique per business; random (an inbound file's follows its message id). */
export type MediaId = string & { readonly __brand: 'MediaId' };

/** `f` and 32 hex digits. */
export const MEDIA_ID = /^f[0-9a-f]{32}$/;

/**
 * What `send` takes to send a media file: the pointer to it (the media key, both hashes, the
 * location on the network's media host) goes into the content envelope, Signal-encrypted for
 * each device; the file itself never travels in a frame.
 */
export interface MediaContent {
  readonly media: {
    /** A file this business uploaded (or received from a person: forwarding reuses the blob). */
    readonly mediaId: string;
    /** Shown with an image, video or document (the format has no caption for audio or stickers). */
    readonly caption?: string | undefined;
    /** Documents: the file name the person sees (default: the one given at upload). */
    readonly fileName?: string | undefined;
    /** When given, the file must be of this type (an API that names the type can check it). */
    readonly type?: MediaType | undefined;
  };
}

/**
 * The non-secret facts of a media file a person sent, handed to the business's handler
 * (`message.media`); `downloadMedia(mediaId)` gives the file itself.
 */
export interface InboundMedia {
  readonly mediaId: MediaId;
  readonly type: MediaType;
  readonly mimetype: string;
  /** Plaintext bytes, as the person's pointer states it (checked when the file is downloaded). */
  readonly fileLength: number;
  readonly caption?: string | undefined;
  readonly fileName?: string | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  readonly seconds?: number | undefined;
}

/** Where a transfer stands: bytes of this phase so far, of `total` when known. */
export interface MediaTransferProgress {
  /**
   * `encrypt`: plaintext read from the business's source; `upload`: blob bytes handed to the
   * media host; `fetch`: blob bytes received from the media host; `verify` and `decrypt`: blob
   * bytes read from the blob store in the checking pass and the releasing pass.
   */
  readonly phase: 'encrypt' | 'upload' | 'fetch' | 'verify' | 'decrypt';
  readonly bytes: number;
  readonly total: number | undefined;
}

export interface UploadMediaOptions {
  readonly type: MediaType;
  /** MIME type of the file, e.g. "image/jpeg" (1–255 characters). */
  readonly mimetype: string;
  /** Documents: the file name shown to the person. */
  readonly fileName?: string | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  /** Audio and video: duration in seconds. */
  readonly seconds?: number | undefined;
  /**
   * The length the sender announced (an HTTP Content-Length): over the type's limit it is
   * refused before a byte is read; a source that then delivers another length fails.
   */
  readonly declaredLength?: number | undefined;
  readonly onProgress?: ((progress: MediaTransferProgress) => void) | undefined;
}

export interface DownloadMediaOptions {
  readonly onProgress?: ((progress: MediaTransferProgress) => void) | undefined;
}

/** What the gateway tells about a media file (never its key or location). */
export interface MediaInfo {
  readonly mediaId: MediaId;
  readonly businessId: string;
  /** `upload`: the business's file; `inbound`: a person sent it (`messageId` carried it). */
  readonly origin: 'upload' | 'inbound';
  readonly messageId?: MessageId | undefined;
  readonly type: MediaType;
  readonly mimetype: string;
  readonly fileLength: number;
  /** SHA-256 of the file, hex (the reference cloud API's `sha256`). */
  readonly sha256: string;
  readonly fileName?: string | undefined;
  readonly caption?: string | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  readonly seconds?: number | undefined;
  readonly createdAt: number;
  /** The retention deadline: the file, its blob and its record are deleted then. */
  readonly expiresAt: number;
  /** The blob is in the blob store (a person's file: once downloaded the first time). */
  readonly stored: boolean;
}
