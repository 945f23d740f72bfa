import { fromUtf8, utf8 } from '../../bytes.js';
import { isParleyError, ParleyError } from '../../errors.js';
import type { ExpectedVersion, WriteOperation } from '../../storage/contract.js';
import type { BusinessContext, GatewayContext } from '../context.js';
import type { MessageId } from '../types.js';
import { timestampKey } from './layout.js';
import { readSealed, sealedPut } from './message-store.js';

/**
 * An outbound message's timestamp: Signal's "sent at", the same in every frame of the message,
 * and what a device's decryption-error message names to have it sent again. It is the message's
 * `createdAt`, made unique per person: Signal clients drop a second message from one sender
 * with a timestamp they have seen (their duplicate check), and a decryption error naming a
 * timestamp must name one message. Two sends to one person in the same millisecond get
 * consecutive timestamps; the record `t/{pseud}/{timestamp}` claims each one, in the commit
 * that stores the message, so two gateway instances cannot both take it.
 */

/** Claims tried before giving up (each conflict means another send took that millisecond). */
const MAX_CLAIMS = 32;

/** Per gateway instance: the last timestamp claimed per person, so a burst needs no conflicts. */
const lastClaimed = new WeakMap<GatewayContext, Map<string, number>>();
/** People remembered per instance; an evicted one only costs a conflict or two. */
const MAX_REMEMBERED = 4_096;

/**
 * Stores a new outbound message under a timestamp of its own: `writesFor(timestamp)` gives the
 * message's writes with `createdAt` set to that timestamp; they commit together with the claim.
 * Returns the timestamp.
 */
export async function commitWithTimestamp(
  g: GatewayContext,
  ctx: BusinessContext,
  message: { readonly id: MessageId; readonly pseudonym: string; readonly deadline: number },
  now: number,
  writesFor: (timestamp: number) => WriteOperation[],
  alsoExpect: readonly ExpectedVersion[] = [],
): Promise<number> {
  let remembered = lastClaimed.get(g);
  if (!remembered) {
    remembered = new Map();
    lastClaimed.set(g, remembered);
  }
  const person = `${ctx.id}/${message.pseudonym}`;
  for (let claim = 0; claim < MAX_CLAIMS; claim++) {
    // Taken in this instance before the commit is awaited: concurrent sends to one person in
    // this instance each get their own millisecond (only other instances can conflict).
    const timestamp = Math.max(now, (remembered.get(person) ?? -1) + 1);
    remembered.delete(person);
    remembered.set(person, timestamp);
    if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
    const key = timestampKey(ctx.id, message.pseudonym, timestamp);
    try {
      await g.store.commit(
        [...writesFor(timestamp), sealedPut(ctx, 'meta', key, utf8(message.id), message.deadline)],
        { expectVersions: [{ namespace: 'meta', key, version: 0 }, ...alsoExpect] },
      );
    } catch (error) {
      if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
      // This millisecond was taken: try the next. Another expectation failed: the caller's.
      if (alsoExpect.length > 0 && !(await g.store.get('meta', key))) throw error;
      continue;
    }
    return timestamp;
  }
  throw new ParleyError(
    'ERR_STORE_CONFLICT',
    `no free message timestamp for this person in ${MAX_CLAIMS} ms (other sends took them)`,
  );
}

/** The message a person's timestamp names, if it is still kept. */
export async function messageAt(
  g: GatewayContext,
  ctx: BusinessContext,
  pseudonym: string,
  timestamp: number,
): Promise<MessageId | undefined> {
  const bytes = await readSealed(g, ctx, 'meta', timestampKey(ctx.id, pseudonym, timestamp));
  return bytes && (fromUtf8(bytes) as MessageId);
}
