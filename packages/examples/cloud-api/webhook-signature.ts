/**
 * The webhook signature businesses already check: `X-Hub-Signature-256: sha256=<hex>`, the
 * HMAC-SHA256 of the raw request body under the business's app secret. A receiver must verify
 * it over the exact bytes it received (before parsing JSON) and compare in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-hub-signature-256';

const SIGNATURE = /^sha256=([0-9a-f]{64})$/;

export function signWebhookBody(rawBody: Uint8Array | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** True only for a well-formed header whose MAC matches these exact bytes. */
export function verifyWebhookSignature(
  rawBody: Uint8Array | string,
  header: string | string[] | undefined,
  appSecret: string,
): boolean {
  if (typeof header !== 'string') return false;
  const match = SIGNATURE.exec(header);
  if (!match) return false;
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}
