/**
 * Property tests of the sender-key chain state machine against a small model: any delivery
 * order, duplicates, drops, gaps (a sender that skips iterations, as Baileys does, or messages
 * this device missed), late joiners, eviction at MAX_SENDER_MESSAGE_KEYS, and rotations
 * through GroupSessions with records in a store.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { type ErrorCode, isParleyError } from '../src/errors.js';
import type { GroupCiphertext } from '../src/groups/group-sessions.js';
import { MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS } from '../src/groups/limits.js';
import { generateLocalSenderKey } from '../src/groups/local-sender-key.js';
import { encodeRemoteSenderKey, type RemoteSenderKey } from '../src/groups/remote-sender-key.js';
import { decryptWithSenderKey, encryptWithSenderKey } from '../src/groups/sender-key-cipher.js';
import { type ChainKey, nextChainKey } from '../src/ratchet/chain-key.js';
import { decodeSenderKeyMessage } from '../src/wire/sender-key-message.js';
import { createGroupParty, expectGroupRefusal } from './support/groups.js';
import { str, testCrypto, text } from './support/parties.js';

const crypto = testCrypto();

/** What the model says one delivery must do. */
type Outcome = 'ok' | 'duplicate' | 'before-key';

/**
 * The receiver as the model sees it: the next iteration it expects, and the skipped iterations
 * it keeps, evicting the smallest (= oldest inserted, since a chain only walks forward).
 */
class ChainModel {
  next: number;
  /** Whether any key was ever evicted. */
  evicted = false;
  readonly skipped = new Set<number>();
  constructor(readonly first: number) {
    this.next = first;
  }
  deliver(iteration: number): Outcome {
    if (iteration < this.next) {
      if (this.skipped.delete(iteration)) return 'ok';
      return iteration < this.first ? 'before-key' : 'duplicate';
    }
    for (let i = this.next; i < iteration; i++) this.skipped.add(i);
    const excess = this.skipped.size - MAX_SENDER_MESSAGE_KEYS;
    if (excess > 0) {
      const smallest = [...this.skipped].sort((a, b) => a - b).slice(0, excess);
      for (const i of smallest) this.skipped.delete(i);
      this.evicted = true;
    }
    this.next = iteration + 1;
    return 'ok';
  }
}

const OUTCOMES: Partial<Record<ErrorCode, Outcome>> = {
  ERR_DUPLICATE_MESSAGE: 'duplicate',
  ERR_SENDER_KEY_NOT_FOUND: 'before-key',
};

function outcomeOf(error: unknown): Outcome {
  const outcome = isParleyError(error) ? OUTCOMES[error.code] : undefined;
  if (!outcome) throw error;
  return outcome;
}

describe('sender-key chain against the model', () => {
  it.each(['signal', 'whatsapp'] as const)(
    '%s: any order, duplicates, drops, gaps and a late start; failures change nothing',
    (format) => {
      const seen = { ok: 0, duplicate: 0, 'before-key': 0, evicted: 0 };
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 320 }), { minLength: 1, maxLength: 18 }),
          fc.nat({ max: 400 }),
          fc.array(fc.nat(), { maxLength: 40 }),
          fc.integer({ min: 0, max: 0xffff }),
          (gaps, firstGuess, picks, seed) => {
            const random = createDeterministicRandom(`chain-${seed}`);
            const sender = generateLocalSenderKey({ crypto, random }, { format, now: 0 });
            // The sender's messages sit at increasing iterations (gaps: skipped or sent elsewhere).
            const iterations: number[] = [];
            let at = -1;
            for (const gap of gaps) {
              at += gap;
              iterations.push(at);
            }
            const chains = chainKeysAt(sender.chainKey, iterations);
            const messages = iterations.map((iteration, i) =>
              encryptWithSenderKey(
                { crypto, random },
                { ...sender, chainKey: chains.get(iteration)! },
                text(`m${i}`),
              ),
            );
            // The receiver got the distribution at some iteration (a late joiner when > 0).
            const first = Math.min(firstGuess, at);
            let state: RemoteSenderKey = {
              distributionId: sender.distributionId ?? new Uint8Array(16),
              chainId: sender.chainId,
              signingKey: sender.signingKey.publicKey,
              firstIteration: first,
              chainKey: chainKeysAt(sender.chainKey, [first]).get(first)!,
              skipped: new Map(),
            };
            const model = new ChainModel(first);
            // Every message once in a random order (drops are the ones picked never), then duplicates.
            const order = picks.map((pick) => pick % messages.length);
            for (const index of order) {
              const expected = model.deliver(iterations[index]!);
              const before = Buffer.from(encodeRemoteSenderKey(state));
              const decoded = decodeSenderKeyMessage(messages[index]!.body, format);
              const working = structuredCloneState(state);
              let outcome: Outcome;
              try {
                expect(str(decryptWithSenderKey(crypto, working, decoded))).toBe(`m${index}`);
                outcome = 'ok';
                state = working;
              } catch (error) {
                outcome = outcomeOf(error);
                // A failed attempt left the state exactly as it was.
                expect(Buffer.from(encodeRemoteSenderKey(working)).equals(before)).toBe(true);
              }
              expect(outcome).toBe(expected);
              seen[outcome]++;
              if (model.evicted) seen.evicted++;
              expect(state.chainKey.index).toBe(model.next);
              expect(sorted(state.skipped.keys())).toEqual(sorted(model.skipped));
            }
          },
        ),
        {
          numRuns: 60,
          // Besides random runs, one that surely reaches every branch: a late start at 100
          // (iterations 0 and 50 predate it), a jump that evicts, a duplicate.
          examples: [[[1, 50, 3000, 2, 2], 100, [4, 2, 0, 4, 3, 1], 7]],
        },
      );
      // The runs reached every branch: duplicates, messages before the key, and eviction.
      for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
    },
  );
});

describe('GroupSessions with rotations, against the model', () => {
  it('encrypts, deliveries in any order, duplicates and rotations: exactly the model’s outcomes', async () => {
    type Step = { kind: 'send' } | { kind: 'deliver'; pick: number } | { kind: 'rotate' };
    const step = fc.oneof(
      { weight: 4, arbitrary: fc.constant<Step>({ kind: 'send' }) },
      { weight: 5, arbitrary: fc.nat().map<Step>((pick) => ({ kind: 'deliver', pick })) },
      { weight: 1, arbitrary: fc.constant<Step>({ kind: 'rotate' }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('signal', 'whatsapp' as const),
        fc.array(step, { maxLength: 60 }),
        async (format, steps) => {
          const alice = createGroupParty('alice', { format });
          const bob = createGroupParty('bob', { format });
          bob.members.add('g', alice.address);
          await bob.groups.processDistribution(
            'g',
            alice.address,
            (await alice.groups.createDistribution('g')).body,
          );
          let chain = 0;
          const sent: { message: GroupCiphertext; chain: number; index: number }[] = [];
          const delivered = new Set<number>();
          for (const s of steps) {
            if (s.kind === 'send') {
              const index = sent.length;
              sent.push({ message: await alice.groups.encrypt('g', text(`m${index}`)), chain, index });
            } else if (s.kind === 'rotate') {
              chain++;
              await bob.groups.processDistribution('g', alice.address, (await alice.groups.rotate('g')).body);
            } else if (sent.length > 0) {
              const { message, chain: of, index } = sent[s.pick % sent.length]!;
              const action = () => bob.groups.decrypt('g', alice.address, message.body);
              if (chain - of >= MAX_SENDER_KEY_STATES) {
                await expectGroupRefusal(bob.store, action, 'ERR_SENDER_KEY_NOT_FOUND');
              } else if (delivered.has(index)) {
                await expectGroupRefusal(bob.store, action, 'ERR_DUPLICATE_MESSAGE');
              } else {
                expect(str((await action()).plaintext)).toBe(`m${index}`);
                delivered.add(index);
              }
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

function sorted(values: Iterable<number>): string {
  return [...values].sort((a, b) => a - b).join(',');
}

/** Chain keys at each wanted iteration, walking the chain once. */
function chainKeysAt(start: ChainKey, wanted: readonly number[]): Map<number, ChainKey> {
  const out = new Map<number, ChainKey>();
  const targets = new Set(wanted);
  const last = Math.max(...wanted);
  let chain = start;
  while (chain.index <= last) {
    if (targets.has(chain.index)) out.set(chain.index, chain);
    chain = nextChainKey(crypto, chain);
  }
  return out;
}

/** A deep copy, as an operation decodes a fresh state from the stored record. */
function structuredCloneState(state: RemoteSenderKey): RemoteSenderKey {
  return { ...state, chainKey: { ...state.chainKey }, skipped: new Map(state.skipped) };
}
