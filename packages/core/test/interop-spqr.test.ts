/**
 * SPQR (the sparse post-quantum ratchet) against real libsignal-client, both directions:
 * Parley {off, offer, require} × {0.75.1 with SPQR on, 0.75.1 with it off, 0.90.0, 0.103.0}.
 * Every cell states its outcome — works with SPQR, works without, or refused (by Parley with a
 * typed code and nothing stored, or silently by the peer) — and the working cells run the
 * scenarios of issue 18: two prekey messages before a reply, 200 round trips with losses and
 * late messages across SPQR epochs (the epochs counted from Parley's own stored state), bursts
 * in reverse order, duplicates. The peer side's negotiation is libsignal's: 0.75.1 has a switch,
 * 0.90.0 offers SPQR and falls back, 0.103.0 (like every release from 0.92) requires it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ErrorCode, isParleyError } from '../src/errors.js';
import type { SpqrMode } from '../src/spqr/pq-ratchet.js';
import { appendMac, decodeSignalMessage, encodeSignalMessageBody } from '../src/wire/signal-message.js';
import {
  createLscPeer,
  makePeerFactory,
  type PeerClient,
  type PeerFactory,
  type PeerMessage,
} from './peers/index.js';
import { createParleyPeer, type ParleyPeer } from './peers/parley.js';
import { snapshot } from './support/parties.js';

beforeAll(() => {
  // libsignal-client logs every refused message at warn level.
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, level).mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

/** The peers, each with the SPQR policy its version runs (libsignal's own negotiation). */
const PEERS: Record<string, { factory: PeerFactory; policy: string }> = {
  'lsc-0.75.1 (SPQR on)': {
    factory: makePeerFactory('lsc-0.75.1', { pqRatchet: true }),
    policy: 'offers SPQR',
  },
  'lsc-0.75.1 (SPQR off)': {
    factory: makePeerFactory('lsc-0.75.1', { pqRatchet: false }),
    policy: 'no SPQR',
  },
  'lsc-0.90.0': { factory: makePeerFactory('lsc-0.90.0'), policy: 'offers SPQR' },
  'lsc-0.103.0': { factory: makePeerFactory('lsc-0.103.0'), policy: 'requires SPQR' },
};

type Outcome =
  | { readonly kind: 'with-spqr' }
  | { readonly kind: 'without-spqr' }
  /** Parley, the responder, refuses the first prekey message: typed, nothing stored. */
  | { readonly kind: 'parley-refuses'; readonly code: ErrorCode }
  /** The peer, the responder, refuses every message; Parley cannot tell (no reply ever comes). */
  | { readonly kind: 'peer-refuses'; readonly error: RegExp };

const WITH: Outcome = { kind: 'with-spqr' };
const WITHOUT: Outcome = { kind: 'without-spqr' };
/** What libsignal-client says when it drops a prekey message (the reason is only in its log). */
const PEER_DROPS: Outcome = { kind: 'peer-refuses', error: /invalid PreKey message: decryption failed/ };

/**
 * The matrix. `parleyStarts`: Parley processes the peer's bundle and sends first; `peerStarts`:
 * the other way round.
 */
const MATRIX: Record<SpqrMode, Record<string, { parleyStarts: Outcome; peerStarts: Outcome }>> = {
  off: {
    // The peer offers; Parley's messages carry no pq_ratchet and the peer falls back.
    'lsc-0.75.1 (SPQR on)': { parleyStarts: WITHOUT, peerStarts: WITHOUT },
    'lsc-0.75.1 (SPQR off)': { parleyStarts: WITHOUT, peerStarts: WITHOUT },
    'lsc-0.90.0': { parleyStarts: WITHOUT, peerStarts: WITHOUT },
    // 0.103.0 refuses a prekey message without SPQR ("Minimum version", in its log only); its own
    // first message is salted with SPQR keys, which Parley recognises and refuses by name.
    'lsc-0.103.0': {
      parleyStarts: PEER_DROPS,
      peerStarts: { kind: 'parley-refuses', code: 'ERR_PEER_REQUIRES_SPQR' },
    },
  },
  offer: {
    'lsc-0.75.1 (SPQR on)': { parleyStarts: WITH, peerStarts: WITH },
    // Parley's first messages carry SPQR without keys, which the peer ignores; its reply has no
    // pq_ratchet and Parley falls back.
    'lsc-0.75.1 (SPQR off)': { parleyStarts: WITHOUT, peerStarts: WITHOUT },
    'lsc-0.90.0': { parleyStarts: WITH, peerStarts: WITH },
    'lsc-0.103.0': { parleyStarts: WITH, peerStarts: WITH },
  },
  require: {
    'lsc-0.75.1 (SPQR on)': { parleyStarts: WITH, peerStarts: WITH },
    // Parley's messages are salted with SPQR keys from the first; the peer cannot open them.
    'lsc-0.75.1 (SPQR off)': {
      parleyStarts: PEER_DROPS,
      peerStarts: { kind: 'parley-refuses', code: 'ERR_PEER_LACKS_SPQR' },
    },
    'lsc-0.90.0': { parleyStarts: WITH, peerStarts: WITH },
    'lsc-0.103.0': { parleyStarts: WITH, peerStarts: WITH },
  },
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string) => encoder.encode(s);

interface Sent {
  readonly message: PeerMessage;
  readonly text: string;
}

async function send(from: PeerClient, to: PeerClient, content: string): Promise<Sent> {
  return { message: await from.encrypt(to.address, text(content)), text: content };
}

async function deliver(to: PeerClient, from: PeerClient, sent: Sent): Promise<void> {
  const plaintext = await to.decrypt(from.address, sent.message);
  expect(decoder.decode(plaintext), `${to.kind} decrypting "${sent.text}"`).toBe(sent.text);
}

async function pair(mode: SpqrMode, peerName: string) {
  const parley = await createParleyPeer({ name: 'business', deviceId: 1 }, { spqr: mode });
  const peer = await PEERS[peerName]!.factory({ name: 'person', deviceId: 2 });
  return { parley, peer };
}

/** Bundle, two prekey messages, a reply: the start every working cell shares. */
async function start(parley: ParleyPeer, peer: PeerClient, parleyStarts: boolean) {
  const [initiator, responder] = parleyStarts ? [parley, peer] : [peer, parley];
  await initiator.processBundle(responder.address, await responder.createBundle({ kyber: true }));
  const first = await send(initiator, responder, 'prekey 1');
  const second = await send(initiator, responder, 'prekey 2');
  expect([first.message.type, second.message.type]).toEqual([3, 3]);
  await deliver(responder, initiator, first);
  await deliver(responder, initiator, second);
  const reply = await send(responder, initiator, 'reply');
  expect(reply.message.type).toBe(2);
  await deliver(initiator, responder, reply);
}

/** Round trips with losses and late messages; returns Parley's SPQR epochs as it saw them. */
async function roundTrips(parley: ParleyPeer, peer: PeerClient, rounds: number) {
  const epochs: number[] = [];
  let lateAcrossEpoch = 0;
  // Every message is delivered one round late, and some are lost: the message Parley opens at
  // an epoch change was sent before it.
  let pendingToParley: { sent: Sent; epoch: number } | undefined;
  let pendingToPeer: Sent | undefined;
  for (let i = 0; i < rounds; i++) {
    const toPeer = await send(parley, peer, `b→p ${i}`);
    const toParley = await send(peer, parley, `p→b ${i}`);
    if (pendingToPeer) await deliver(peer, parley, pendingToPeer);
    if (pendingToParley) {
      await deliver(parley, peer, pendingToParley.sent);
      const epoch = (await parley.spqr(peer.address))?.epoch ?? 0;
      if (epoch > pendingToParley.epoch) lateAcrossEpoch++;
    }
    const epoch = (await parley.spqr(peer.address))?.epoch ?? 0;
    epochs.push(epoch);
    pendingToPeer = i % 11 === 5 ? undefined : toPeer;
    pendingToParley = i % 13 === 7 ? undefined : { sent: toParley, epoch };
  }
  if (pendingToPeer) await deliver(peer, parley, pendingToPeer);
  if (pendingToParley) await deliver(parley, peer, pendingToParley.sent);
  return { epochs, lateAcrossEpoch };
}

async function reverseBursts(parley: ParleyPeer, peer: PeerClient, size: number): Promise<Sent> {
  const fromPeer: Sent[] = [];
  for (let i = 0; i < size; i++) fromPeer.push(await send(peer, parley, `burst p→b ${i}`));
  for (const sent of fromPeer.reverse()) await deliver(parley, peer, sent);
  const fromParley: Sent[] = [];
  for (let i = 0; i < size; i++) fromParley.push(await send(parley, peer, `burst b→p ${i}`));
  for (const sent of fromParley.reverse()) await deliver(peer, parley, sent);
  return fromPeer[0]!;
}

async function errorOf(action: () => Promise<unknown>): Promise<unknown> {
  return action().then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** An epoch takes ~45 round trips; with a loss in every 11–13 messages, 250 make at least 4. */
const MIN_EPOCHS = 4;

for (const mode of ['off', 'offer', 'require'] as const) {
  describe(`Parley spqr: '${mode}'`, () => {
    for (const [peerName, { policy }] of Object.entries(PEERS)) {
      for (const parleyStarts of [true, false]) {
        const outcome = MATRIX[mode][peerName]![parleyStarts ? 'parleyStarts' : 'peerStarts'];
        const direction = parleyStarts ? `Parley → ${peerName}` : `${peerName} → Parley`;
        const title = `${direction} (peer ${policy}): ${outcome.kind}${'code' in outcome ? ` ${outcome.code}` : ''}`;

        if (outcome.kind === 'with-spqr' || outcome.kind === 'without-spqr') {
          const spqr = outcome.kind === 'with-spqr';
          it(title, async () => {
            const { parley, peer } = await pair(mode, peerName);
            await start(parley, peer, parleyStarts);
            const rounds = spqr ? 250 : 40;
            const { epochs, lateAcrossEpoch } = await roundTrips(parley, peer, rounds);
            const view = await parley.spqr(peer.address);
            expect(view?.on).toBe(spqr);
            if (spqr) {
              expect(view!.negotiating).toBe(false);
              // Epochs alternate who sends the ML-KEM key: ≥ 4 means each side did at least twice.
              expect(view!.epoch).toBeGreaterThanOrEqual(MIN_EPOCHS);
              expect(epochs.every((e, i) => i === 0 || e >= epochs[i - 1]!)).toBe(true);
              expect(lateAcrossEpoch).toBeGreaterThanOrEqual(MIN_EPOCHS - 1);
            } else {
              expect(view!.epoch).toBe(0);
            }
            const old = await reverseBursts(parley, peer, 8);
            // A repeat is refused, typed, and changes nothing; the peer refuses its repeats too.
            const before = await snapshot(parley.store);
            const repeat = await errorOf(() => parley.decrypt(peer.address, old.message));
            expect(isParleyError(repeat, 'ERR_DUPLICATE_MESSAGE')).toBe(true);
            expect(await snapshot(parley.store)).toEqual(before);
            const again = await send(parley, peer, 'once');
            await deliver(peer, parley, again);
            expect(await errorOf(() => peer.decrypt(parley.address, again.message))).toBeInstanceOf(Error);
            // And the session goes on.
            await deliver(parley, peer, await send(peer, parley, 'still here'));
          }, 60_000);
        } else if (outcome.kind === 'parley-refuses') {
          it(title, async () => {
            const { parley, peer } = await pair(mode, peerName);
            await peer.processBundle(parley.address, await parley.createBundle({ kyber: true }));
            const first = await send(peer, parley, 'hello');
            const before = await snapshot(parley.store);
            const error = await errorOf(() => parley.decrypt(peer.address, first.message));
            expect(isParleyError(error, outcome.code), String(error)).toBe(true);
            expect(await snapshot(parley.store)).toEqual(before);
            expect(await parley.hasSession(peer.address)).toBe(false);
          });
        } else {
          it(title, async () => {
            const { parley, peer } = await pair(mode, peerName);
            await parley.processBundle(peer.address, await peer.createBundle({ kyber: true }));
            // Parley keeps sending prekey messages; each is dropped, nothing comes back.
            for (const content of ['hello', 'hello again']) {
              const sent = await send(parley, peer, content);
              expect(sent.message.type).toBe(3);
              expect(String(await errorOf(() => peer.decrypt(parley.address, sent.message)))).toMatch(
                outcome.error,
              );
            }
            expect(await peer.hasSession(parley.address)).toBe(false);
          });
        }
      }
    }
  });
}

// ── Refused pq_ratchet fields ────────────────────────────────────────────────────────────

/** The same SignalMessage with another pq_ratchet field (the MAC left as it was). */
function withField(message: PeerMessage, field: Uint8Array | undefined): PeerMessage {
  const decoded = decodeSignalMessage(message.body);
  return { type: 2, body: appendMac(encodeSignalMessageBody({ ...decoded, pqRatchet: field }), decoded.mac) };
}

function fieldOf(message: PeerMessage): Uint8Array {
  const field = decodeSignalMessage(message.body).pqRatchet;
  expect(field).toBeDefined();
  return field!;
}

/** A session with lsc-0.103.0 in the middle of an epoch, chunks flowing both ways. */
async function midEpoch(name: string) {
  const parley = await createParleyPeer({ name: `business-${name}`, deviceId: 1 });
  const peer = await makePeerFactory('lsc-0.103.0')({ name: `person-${name}`, deviceId: 2 });
  await start(parley, peer, false);
  for (let i = 0; i < 30; i++) {
    await deliver(parley, peer, await send(peer, parley, `p→b ${i}`));
    await deliver(peer, parley, await send(parley, peer, `b→p ${i}`));
  }
  return { parley, peer };
}

describe('refused pq_ratchet fields from lsc-0.103.0: typed errors, nothing changes', () => {
  it('tampered, foreign and truncated fields are refused; the genuine message still opens', async () => {
    const { parley, peer } = await midEpoch('a');
    const other = await midEpoch('b');
    const genuine = await send(peer, parley, 'the real one');
    const field = fieldOf(genuine.message);
    const foreign = fieldOf((await send(other.peer, other.parley, 'elsewhere')).message);
    const flip = (at: number) => {
      const out = field.slice();
      out[at]! ^= 0x01;
      return out;
    };
    const cases: [string, PeerMessage, readonly ErrorCode[]][] = [
      // A bit of a chunk: the field still parses, the message MAC (which covers it) fails.
      ['a chunk bit flipped', withField(genuine.message, flip(field.length - 1)), ['ERR_INVALID_MAC']],
      [
        'a chunk bit flipped (middle)',
        withField(genuine.message, flip(field.length - 16)),
        ['ERR_INVALID_MAC'],
      ],
      // The epoch: another epoch's key, or none.
      ['the epoch changed', withField(genuine.message, flip(1)), ['ERR_INVALID_MAC', 'ERR_PQ_RATCHET']],
      [
        'a chunk from another session',
        withField(genuine.message, foreign),
        ['ERR_INVALID_MAC', 'ERR_PQ_RATCHET'],
      ],
      [
        'the chunk cut by a byte',
        withField(genuine.message, field.subarray(0, field.length - 1)),
        ['ERR_PQ_RATCHET'],
      ],
      [
        'the chunk cut in half',
        withField(genuine.message, field.subarray(0, field.length - 16)),
        ['ERR_PQ_RATCHET'],
      ],
      ['only the version byte', withField(genuine.message, field.subarray(0, 1)), ['ERR_PQ_RATCHET']],
      // No field at all, once SPQR was agreed: a downgrade, refused.
      ['the field removed', withField(genuine.message, undefined), ['ERR_PQ_RATCHET']],
      [
        'the message cut short',
        { type: 2, body: genuine.message.body.subarray(0, 40) },
        ['ERR_INVALID_MESSAGE'],
      ],
    ];
    for (const [what, message, codes] of cases) {
      const before = await snapshot(parley.store);
      const error = await errorOf(() => parley.decrypt(peer.address, message));
      expect(isParleyError(error), `${what}: ${String(error)}`).toBe(true);
      expect(codes, `${what}: ${(error as { code: string }).code}`).toContain(
        (error as { code: ErrorCode }).code,
      );
      expect(await snapshot(parley.store), what).toEqual(before);
    }
    await deliver(parley, peer, genuine);
    await deliver(peer, parley, await send(parley, peer, 'and on'));
  }, 60_000);
});

// ── The peer upgrades 0.90.0 → 0.103.0 and loads its old record ──────────────────────────

describe('an existing session when the peer upgrades from lsc-0.90.0 to lsc-0.103.0', () => {
  async function established(mode: SpqrMode) {
    const parley = await createParleyPeer({ name: 'business', deviceId: 1 }, { spqr: mode });
    const old = await createLscPeer('lsc-0.90.0', { name: 'person', deviceId: 2 });
    await start(parley, old, false);
    for (let i = 0; i < 60; i++) {
      await deliver(parley, old, await send(old, parley, `before ${i}`));
      await deliver(old, parley, await send(parley, old, `before, back ${i}`));
    }
    const upgraded = await createLscPeer('lsc-0.103.0', old.address, { restore: old.saveState() });
    return { parley, upgraded, before: await parley.spqr(old.address) };
  }

  it('a session without SPQR (Parley off) keeps working both ways, but 0.103.0 calls it unusable and its next session needs SPQR', async () => {
    const { parley, upgraded, before } = await established('off');
    expect(before).toEqual({ on: false, epoch: 0, negotiating: false });
    // libsignal's hasCurrentState() now requires SPQR in the session: an app sees no usable session…
    expect(await upgraded.hasSession(parley.address)).toBe(false);
    // …yet messages in the old session still open in both directions.
    await deliver(parley, upgraded, await send(upgraded, parley, 'after the upgrade'));
    await deliver(upgraded, parley, await send(parley, upgraded, 'after the upgrade, back'));
    // What the app does next: a new session from a fresh bundle — which requires SPQR.
    await upgraded.processBundle(parley.address, await parley.createBundle({ kyber: true }));
    const first = await send(upgraded, parley, 'new session');
    const before2 = await snapshot(parley.store);
    expect(
      isParleyError(
        await errorOf(() => parley.decrypt(upgraded.address, first.message)),
        'ERR_PEER_REQUIRES_SPQR',
      ),
    ).toBe(true);
    expect(await snapshot(parley.store)).toEqual(before2);
  }, 60_000);

  it('an SPQR session (Parley offer) goes on with SPQR, its epochs advancing', async () => {
    const { parley, upgraded, before } = await established('offer');
    expect(before?.on).toBe(true);
    expect(await upgraded.hasSession(parley.address)).toBe(true);
    for (let i = 0; i < 60; i++) {
      await deliver(parley, upgraded, await send(upgraded, parley, `after ${i}`));
      await deliver(upgraded, parley, await send(parley, upgraded, `after, back ${i}`));
    }
    const after = await parley.spqr(upgraded.address);
    expect(after?.on).toBe(true);
    expect(after!.epoch).toBeGreaterThan(before!.epoch);
  }, 60_000);
});
