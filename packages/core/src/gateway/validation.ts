import { ParleyError } from '../errors.js';
import type { InboundFrame, MessageId } from './types.js';

export const MESSAGE_ID = /^m[0-9a-f]{32}$/;

/** Frame ids of decryption-error frames (type 8): `r` and 32 hex digits, random. */
export const DECRYPTION_ERROR_FRAME_ID = /^r[0-9a-f]{32}$/;

/** What an outbound frame id names. */
export interface ParsedFrameId {
  readonly id: MessageId;
  readonly deviceId: number;
  /** Group messages: the member's tag within this message (see group-frames.ts). */
  readonly member?: string | undefined;
  /** Group messages: the frame carried the distribution message over 1:1, not the content. */
  readonly distribution?: boolean | undefined;
}

/**
 * Outbound frame ids: `{messageId}.{deviceId}.{attempt}` (random id: nothing personal); a
 * group message's frames add the member's tag, and `.k` for its distribution message.
 */
export function parseFrameId(frameId: unknown): ParsedFrameId | undefined {
  if (typeof frameId !== 'string') return undefined;
  const match = /^(m[0-9a-f]{32})\.(\d{1,10})\.\d{1,10}(?:\.([0-9a-f]{16})(\.k)?)?$/.exec(frameId);
  if (!match) return undefined;
  const parsed = { id: match[1] as MessageId, deviceId: Number(match[2]) };
  return match[3] === undefined
    ? parsed
    : { ...parsed, member: match[3], distribution: match[4] !== undefined };
}

/** Group ids the gateway issues: random, so they reveal nothing about the members. */
export const GROUP_ID = /^g[0-9a-f]{32}$/;

export function assertGroupIdArgument(value: unknown, field = 'groupId'): asserts value is string {
  if (typeof value !== 'string' || !GROUP_ID.test(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a group id this gateway issued`, {
      field,
    });
  }
}

export function positive(value: number, field: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new ParleyError('ERR_CONFIGURATION', `"${field}" expected a positive number`, { field });
  }
  return value;
}

export const BUSINESS_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** E.164: "+", then up to 15 digits, not starting with 0. */
export const PHONE_NUMBER = /^\+[1-9][0-9]{3,14}$/;

export function assertBusinessId(value: unknown): asserts value is string {
  if (typeof value !== 'string' || !BUSINESS_ID.test(value)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"businessId" expected 1–64 characters of A–Z, a–z, 0–9, "_" or "-"',
    );
  }
}

export function assertPhoneNumber(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || !PHONE_NUMBER.test(value)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" expected an E.164 phone number ("+" and 4–15 digits)`,
    );
  }
}

export function assertDeviceId(value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 0x7fff_ffff) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"deviceId" expected an integer from 1 to 2^31-1');
  }
}

export function assertFrame(frame: InboundFrame): void {
  assertArgumentObject(frame, 'frame', 'an inbound frame { frameId, to, from, deviceId, type, body }');
  if (typeof frame.frameId !== 'string' || frame.frameId.length === 0 || frame.frameId.length > 256) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"frameId" expected a string of 1–256 characters');
  }
  assertPhoneNumber(frame.to, 'to');
  assertPhoneNumber(frame.from, 'from');
  assertDeviceId(frame.deviceId);
  if (frame.type !== 2 && frame.type !== 3 && frame.type !== 7 && frame.type !== 8) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"type" expected 2 (whisper), 3 (prekey), 7 (sender key) or 8 (plaintext content: a decryption error)',
    );
  }
  // A group message names its group (the WhatsApp format has none on the wire); others do not.
  if (frame.type === 7 ? !isFrameGroupId(frame.groupId) : frame.groupId !== undefined) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"groupId" expected a group id of 1–256 characters on a type-7 frame, and none on others',
      { field: 'groupId' },
    );
  }
  if (!(frame.body instanceof Uint8Array))
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"body" expected a Uint8Array');
  const timestamp = frame.timestamp;
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"timestamp" expected epoch milliseconds (a safe integer ≥ 0)',
      {
        field: 'timestamp',
      },
    );
  }
}

function isFrameGroupId(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

/** An argument that must be a plain object (a request, a registration, a frame). */
export function assertArgumentObject(value: unknown, field: string, expected: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
  }
}

export function assertDeviceIds(value: unknown): asserts value is readonly number[] {
  if (!Array.isArray(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"deviceIds" expected an array of device ids', {
      field: 'deviceIds',
    });
  }
  for (const deviceId of value) assertDeviceId(deviceId);
}

export function assertHandler(value: unknown, field: string): void {
  if (typeof value !== 'function') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a function`, { field });
  }
}
