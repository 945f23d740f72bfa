/**
 * A scripted conversation between two {@link PeerClient}s, checking every decrypted plaintext
 * against what was sent. Used to validate the peer harness, and reusable for Parley ↔ peer tests.
 */
import { bytesEqual, type CreateBundleOptions, type PeerClient, type PeerMessage } from './types.js';

export interface ConversationOptions {
  /** Bob's bundle includes a one-time prekey (default true). */
  oneTimePreKey?: boolean;
  /** Bob's bundle includes a Kyber prekey (default: Bob's default). */
  kyber?: boolean;
  /** Alternating exchanges after the handshake (default 10 each way). */
  rounds?: number;
  /** Size of the out-of-order burst, delivered in reverse (default 5, each way). */
  burst?: number;
  /** Never deliver the middle message of each burst (a message lost in transit). */
  drop?: boolean;
}

export interface ConversationTrace {
  /** Messages decrypted and checked equal to what was sent. */
  delivered: number;
  /** Distinct leading (version) bytes of the messages each side sent, in hex. */
  versionBytes: { alice: string[]; bob: string[] };
  /** Serialized session record sizes after the conversation. */
  recordSizes: { alice?: number; bob?: number };
}

export type ConversationResult =
  | ({ ok: true } & ConversationTrace)
  | ({ ok: false; step: string; error: string } & ConversationTrace);

/** Thrown (and reported as a failed step) when a decryption yields the wrong plaintext. */
export class PlaintextMismatch extends Error {
  override name = 'PlaintextMismatch';
}

const encoder = new TextEncoder();

export function expectedConversationLength(options: ConversationOptions = {}): number {
  const rounds = options.rounds ?? 10;
  const burst = options.burst ?? 5;
  const dropped = options.drop && burst > 0 ? 2 : 0;
  return 2 + 1 + 2 * rounds + 2 * burst - dropped + (options.drop ? 2 : 0);
}

/**
 * Alice processes Bob's bundle, sends two prekey messages, Bob replies; then `rounds` messages
 * each way (alternating) and a burst of `burst` messages each way delivered in reverse order.
 * Never throws: a failure is reported with the step it happened at.
 */
export async function runConversation(
  alice: PeerClient,
  bob: PeerClient,
  options: ConversationOptions = {},
): Promise<ConversationResult> {
  const rounds = options.rounds ?? 10;
  const burst = options.burst ?? 5;
  const trace: ConversationTrace = { delivered: 0, versionBytes: { alice: [], bob: [] }, recordSizes: {} };
  let step = 'start';

  const note = (who: 'alice' | 'bob', m: PeerMessage) => {
    const v = (m.body[0] ?? 0).toString(16).padStart(2, '0');
    if (!trace.versionBytes[who].includes(v)) trace.versionBytes[who].push(v);
  };
  const send = async (
    from: PeerClient,
    to: PeerClient,
    who: 'alice' | 'bob',
    text: string,
    expectType: 2 | 3,
  ): Promise<{ m: PeerMessage; plaintext: Uint8Array; to: PeerClient; from: PeerClient }> => {
    step = `${who} encrypts "${text}"`;
    const plaintext = encoder.encode(text);
    const m = await from.encrypt(to.address, plaintext);
    note(who, m);
    if (m.type !== expectType) throw new Error(`expected message type ${expectType}, got ${m.type}`);
    return { m, plaintext, to, from };
  };
  const receive = async (sent: {
    m: PeerMessage;
    plaintext: Uint8Array;
    to: PeerClient;
    from: PeerClient;
  }) => {
    step = `${sent.to === bob ? 'bob' : 'alice'} decrypts "${new TextDecoder().decode(sent.plaintext)}"`;
    const got = await sent.to.decrypt(sent.from.address, sent.m);
    if (!bytesEqual(got, sent.plaintext)) {
      throw new PlaintextMismatch(`got "${new TextDecoder().decode(got)}"`);
    }
    trace.delivered++;
  };

  try {
    step = 'bob creates bundle';
    const bundleOptions: CreateBundleOptions = { oneTimePreKey: options.oneTimePreKey ?? true };
    if (options.kyber !== undefined) bundleOptions.kyber = options.kyber;
    const bundle = await bob.createBundle(bundleOptions);
    step = 'alice processes bundle';
    await alice.processBundle(bob.address, bundle);
    if (!(await alice.hasSession(bob.address))) throw new Error('alice has no session after processBundle');

    const p1 = await send(alice, bob, 'alice', 'prekey 1', 3);
    const p2 = await send(alice, bob, 'alice', 'prekey 2', 3);
    await receive(p1);
    await receive(p2);
    step = 'bob session check';
    if (!(await bob.hasSession(alice.address))) throw new Error('bob has no session after prekey messages');

    await receive(await send(bob, alice, 'bob', 'reply', 2));

    for (let i = 0; i < rounds; i++) {
      await receive(await send(alice, bob, 'alice', `a→b ${i}`, 2));
      await receive(await send(bob, alice, 'bob', `b→a ${i}`, 2));
    }

    const lost = options.drop ? Math.floor(burst / 2) : -1;
    const aBurst = [];
    for (let i = 0; i < burst; i++) aBurst.push(await send(alice, bob, 'alice', `a→b burst ${i}`, 2));
    for (const [i, m] of [...aBurst.entries()].reverse()) if (i !== lost) await receive(m);
    const bBurst = [];
    for (let i = 0; i < burst; i++) bBurst.push(await send(bob, alice, 'bob', `b→a burst ${i}`, 2));
    for (const [i, m] of [...bBurst.entries()].reverse()) if (i !== lost) await receive(m);
    if (options.drop) {
      await receive(await send(alice, bob, 'alice', 'after the loss', 2));
      await receive(await send(bob, alice, 'bob', 'after the loss too', 2));
    }

    step = 'record sizes';
    const a = await alice.sessionRecordSize(bob.address);
    const b = await bob.sessionRecordSize(alice.address);
    if (a !== undefined) trace.recordSizes.alice = a;
    if (b !== undefined) trace.recordSizes.bob = b;
    return { ok: true, ...trace };
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { ok: false, step, error, ...trace };
  }
}
