/**
 * The business gateway: Signal-protocol sessions held for many businesses and their phone
 * numbers, with retention, crypto-shredding, pseudonyms and residency.
 */

export { DEFAULT_PADDING_BLOCK, padContent, unpadContent } from '../content/padding.js';
export { type ArchivedMessage, type ReadMessageArchiveOptions, readMessageArchive } from './archive.js';
export { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.js';
export { BusinessHandle, type BusinessUsage, type HandleOptions } from './business-handle.js';
export type {
  AccessLog,
  AccessLogExport,
  AccessLogQuery,
  AccessLogVerification,
  AccessOperation,
  AccessRecord,
} from './durable/access-log.js';
export { DEFAULT_PERIOD_MS } from './durable/period-keys.js';
export {
  createGateway,
  DEFAULT_ACCESS_LOG_RETENTION_MS,
  DEFAULT_DEVICE_REFRESH_MS,
  DEFAULT_INACTIVITY_MS,
  DEFAULT_KYBER_PREKEY_BATCH,
  DEFAULT_KYBER_PREKEY_LOW_WATER,
  DEFAULT_MAX_SEND_ATTEMPTS,
  DEFAULT_PLAINTEXT_TTL_MS,
  DEFAULT_PREKEY_BATCH,
  DEFAULT_PREKEY_LOW_WATER,
  DEFAULT_REDELIVERY_LIMIT_MS,
  DEFAULT_RETRY_REQUEST_INTERVAL_MS,
  DEFAULT_SIGNED_PREKEY_GRACE_MS,
  DEFAULT_SIGNED_PREKEY_ROTATION_MS,
  Gateway,
  type GatewayOptions,
  type GatewayStatisticsOptions,
  MAX_CONTENT_LENGTH,
  MAX_RETENTION_DAYS,
  RETRY_REQUESTS_PER_INTERVAL,
  type SweepResult,
} from './gateway.js';
export { createLocalKeyProvider, type KeyProvider, type LocalKeyProviderOptions } from './key-provider.js';
export type { GatewayLogger, LogFields, LogLevel, LogValue } from './logger.js';
export {
  DEFAULT_MEDIA_DOWNLOAD_ATTEMPTS,
  DEFAULT_MEDIA_MAX_BYTES,
  type GatewayMediaOptions,
  type MediaLocation,
  type MediaTransport,
  type MediaUploadInfo,
} from './media-options.js';
export type {
  DownloadMediaOptions,
  InboundMedia,
  MediaContent,
  MediaId,
  MediaInfo,
  MediaTransferProgress,
  UploadMediaOptions,
} from './media-types.js';
export type {
  BusinessRegistration,
  CreateGroupRequest,
  DeliveryReceipt,
  DeviceDelivery,
  Directory,
  EventHandler,
  FrameType,
  GatewayEvent,
  GroupInfo,
  GroupMember,
  GroupSendRequest,
  InboundFrame,
  InboundMessage,
  InboundStatus,
  MessageHandler,
  MessageId,
  MessageStatus,
  OutboundFrame,
  OutboundStatus,
  PlatformExport,
  PreKeyUpload,
  ReceiveOutcome,
  RetryRequest,
  SenderKeyMissingReport,
  SendRequest,
  SignedPublicPreKey,
  SpamReport,
  Transport,
} from './types.js';
