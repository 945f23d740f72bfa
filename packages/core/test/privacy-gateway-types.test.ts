import { describe, expect, it } from 'vitest';
import type { GatewayLogger, LogFields } from '../src/gateway/logger.js';
import type { PlatformExport } from '../src/gateway/types.js';
import type { IntegritySignals } from '../src/integrity/signal.js';
import {
  type DeviceId,
  deviceId,
  type MessageContent,
  messageContent,
  type PhoneNumber,
  type Pseudonym,
  phoneNumber,
  pseudonym,
} from '../src/privacy/branded.js';

// As in privacy-snapshot-types.test.ts: `tsc` checks the `@ts-expect-error` lines (an unused
// one is an error), vitest the same values at run time.

const phone: PhoneNumber = phoneNumber('+14155550123');
const person: Pseudonym = pseudonym('5f1c0a9e7b2d4c3e8f6a1b0d9c8e7f6a');
const device: DeviceId = deviceId(3);
const content: MessageContent = messageContent('canary-content');

describe('the gateway’s log fields refuse branded personal data', () => {
  it('takes ids, codes and counts, and no phone number, pseudonym, device id or content', () => {
    const lines: LogFields[] = [];
    const logger: GatewayLogger = {
      debug: (_message, fields) => lines.push(fields ?? {}),
      info: (_message, fields) => lines.push(fields ?? {}),
      warn: (_message, fields) => lines.push(fields ?? {}),
      error: (_message, fields) => lines.push(fields ?? {}),
    };
    logger.info('fine', { businessId: 'biz-1', messageId: 'm00', attempts: 3, retryRequested: false });
    // @ts-expect-error a phone number is not a log field
    logger.warn('leak', { to: phone });
    // @ts-expect-error a pseudonym is not a log field
    logger.warn('leak', { person });
    // @ts-expect-error a device id is not a log field
    logger.warn('leak', { device });
    // @ts-expect-error content is not a log field
    logger.error('leak', { content });
    // @ts-expect-error nested objects are not log fields either
    logger.debug('leak', { frame: { to: 'x' } });
    expect(lines).toHaveLength(6);
  });
});

describe('each audience gets its own narrow object', () => {
  it('the transport side can only read signals; the platform only statistics and billing snapshots', () => {
    const signals = { signal: () => undefined } as unknown as IntegritySignals;
    // @ts-expect-error the signals reader cannot record sends
    signals.recordSent;
    // @ts-expect-error nor read spam reports back
    signals.recordSpamReport;
    const platform = {} as PlatformExport;
    // @ts-expect-error the platform export has no recorder
    platform.recorder;
    // @ts-expect-error nor integrity signals
    platform.signals;
    expect(Object.keys(signals)).toEqual(['signal']);
  });
});
