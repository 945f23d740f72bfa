/**
 * JSON shapes of frames, receipts and retry requests on the example wires (HTTP and
 * WebSocket). Bodies travel as base64. Every decoder checks each field and throws a
 * {@link BadRequest} naming it, so a server answers 400 instead of crashing.
 */
import type { DeliveryReceipt, FrameType, InboundFrame, OutboundFrame, RetryRequest } from '@parley/core';

/** A request the peer got wrong: becomes a 4xx with a JSON error body. */
export class BadRequest extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BadRequest';
  }
}

export interface FrameJson {
  readonly frameId: string;
  readonly to: string;
  readonly from: string;
  readonly deviceId: number;
  /** 2 whisper, 3 prekey, 7 sender key (a group message), 8 plaintext content (a decryption-error message). */
  readonly type: FrameType;
  readonly body: string;
  /** Type 7 (a group message) only. */
  readonly groupId?: string | undefined;
  /** The message's timestamp (epoch ms); optional inbound (read as 0). */
  readonly timestamp?: number;
}

/** Largest JSON body the example servers read: a frame of 64 KiB content, base64, with room. */
export const MAX_JSON_BYTES = 256 * 1024;

export function frameToJson(frame: InboundFrame | OutboundFrame): FrameJson {
  return { ...frame, body: Buffer.from(frame.body).toString('base64') };
}

/** A frame in either direction (both carry frameId, to, from, deviceId, type, body, timestamp). */
export function frameFromJson(value: unknown): InboundFrame & OutboundFrame {
  const object = record(value, 'frame');
  return {
    frameId: text(object.frameId, 'frameId'),
    to: text(object.to, 'to'),
    from: text(object.from, 'from'),
    deviceId: integer(object.deviceId, 'deviceId'),
    type: messageType(object.type),
    body: base64(object.body, 'body'),
    ...(object.groupId === undefined ? {} : { groupId: text(object.groupId, 'groupId') }),
    timestamp: object.timestamp === undefined ? 0 : integer(object.timestamp, 'timestamp'),
  };
}

export function receiptFromJson(value: unknown): DeliveryReceipt {
  return { frameId: text(record(value, 'receipt').frameId, 'frameId') };
}

export function retryRequestFromJson(value: unknown): RetryRequest {
  const object = record(value, 'retry request');
  return {
    from: text(object.from, 'from'),
    to: text(object.to, 'to'),
    deviceId: integer(object.deviceId, 'deviceId'),
    frameId: text(object.frameId, 'frameId'),
    reason: text(object.reason, 'reason') as RetryRequest['reason'],
    ...(object.groupId === undefined ? {} : { groupId: text(object.groupId, 'groupId') }),
  };
}

/** Parses a JSON text; a syntax error is the client's. */
export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new BadRequest(400, 'ERR_BAD_JSON', 'the body is not valid JSON');
  }
}

export function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', `${what} expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) {
    throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', `"${field}" expected a non-empty string`);
  }
  return value;
}

function integer(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', `"${field}" expected an integer`);
  }
  return value as number;
}

function messageType(value: unknown): FrameType {
  if (value !== 2 && value !== 3 && value !== 7 && value !== 8) {
    throw new BadRequest(
      400,
      'ERR_INVALID_ARGUMENT',
      '"type" expected 2 (whisper), 3 (prekey), 7 (sender key) or 8 (a decryption-error message)',
    );
  }
  return value;
}

function base64(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', `"${field}" expected base64`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}
