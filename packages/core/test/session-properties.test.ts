import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { isParleyError } from '../src/errors.js';
import { MAX_RECEIVER_CHAINS } from '../src/ratchet/limits.js';
import type { CiphertextMessage } from '../src/session/session-manager.js';
import { decodePreKeySignalMessage } from '../src/wire/prekey-signal-message.js';
import { decodeSignalMessage } from '../src/wire/signal-message.js';
import { connect, createParty, type Party, str, text } from './support/parties.js';

type Command =
  | { kind: 'send'; from: 0 | 1 }
  | { kind: 'deliver'; pick: number }
  | { kind: 'drop'; pick: number }
  | { kind: 'duplicate'; pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      from: fc.constantFrom(0 as const, 1 as const),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }) },
);

interface InFlight {
  readonly from: 0 | 1;
  readonly plaintext: string;
  readonly message: CiphertextMessage;
  readonly ratchetKey: string;
}

function ratchetKeyOf(message: CiphertextMessage): string {
  const signal = message.type === 3 ? decodePreKeySignalMessage(message.body).message : message.body;
  return toHex(decodeSignalMessage(signal).ratchetKey);
}

/**
 * Models which receiver chains a party still holds (the last MAX_RECEIVER_CHAINS remote
 * ratchet keys it opened), so the property can tell a message that must open from one
 * whose chain was legitimately forgotten.
 */
class ChainModel {
  private readonly live: string[] = [];
  private readonly seen = new Set<string>();
  mustOpen(key: string): boolean {
    return this.live.includes(key) || !this.seen.has(key);
  }
  opened(key: string): void {
    if (this.live.includes(key)) return;
    this.seen.add(key);
    this.live.push(key);
    if (this.live.length > MAX_RECEIVER_CHAINS) this.live.shift();
  }
}

describe('random interleavings of send, reorder, drop and duplicate', () => {
  it('every delivered message decrypts exactly once, duplicates are refused, and the session stays usable', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60 }), async (commands) => {
        run++;
        const parties: [Party, Party] = [await createParty(`a${run}`), await createParty(`b${run}`)];
        await connect(parties[0], parties[1]);
        const models = [new ChainModel(), new ChainModel()];
        const inFlight: InFlight[] = [];
        const delivered: InFlight[] = [];
        let sent = 0;

        const deliver = async (item: InFlight, again: boolean) => {
          const to = parties[1 - item.from]!;
          const model = models[1 - item.from]!;
          const mustOpen = model.mustOpen(item.ratchetKey);
          const outcome = await to.sessions
            .decrypt(parties[item.from].address, item.message)
            .then((r) => str(r.plaintext))
            .catch((e: unknown) => e);
          if (again) {
            expect(isParleyError(outcome), 'a duplicate must be refused').toBe(true);
            if (mustOpen) expect((outcome as { code: string }).code).toBe('ERR_DUPLICATE_MESSAGE');
            return;
          }
          if (mustOpen) {
            expect(outcome).toBe(item.plaintext);
            model.opened(item.ratchetKey);
          } else if (typeof outcome === 'string') {
            expect(outcome).toBe(item.plaintext);
          } else {
            expect(isParleyError(outcome)).toBe(true);
          }
        };

        for (const c of commands) {
          if (c.kind === 'send') {
            const from = parties[c.from];
            const to = parties[1 - c.from]!;
            if (!(await from.sessions.hasSession(to.address))) continue;
            const plaintext = `m${sent++}`;
            const message = await from.sessions.encrypt(to.address, text(plaintext));
            inFlight.push({ from: c.from, plaintext, message, ratchetKey: ratchetKeyOf(message) });
          } else if (c.kind === 'deliver' && inFlight.length > 0) {
            const [item] = inFlight.splice(c.pick % inFlight.length, 1);
            await deliver(item!, false);
            delivered.push(item!);
          } else if (c.kind === 'drop' && inFlight.length > 0) {
            inFlight.splice(c.pick % inFlight.length, 1);
          } else if (c.kind === 'duplicate' && delivered.length > 0) {
            await deliver(delivered[c.pick % delivered.length]!, true);
          }
        }

        // Still usable: a fresh exchange both ways (Bob may never have heard from Alice).
        const [alice, bob] = parties;
        const hello = await alice.sessions.encrypt(bob.address, text('final a'));
        expect(str((await bob.sessions.decrypt(alice.address, hello)).plaintext)).toBe('final a');
        const reply = await bob.sessions.encrypt(alice.address, text('final b'));
        expect(str((await alice.sessions.decrypt(bob.address, reply)).plaintext)).toBe('final b');
      }),
      { numRuns: 120 },
    );
  }, 120_000);
});
