import { createLocalKeyProvider, isParleyError } from '@parley/core';
import { unpadContent } from '../../../../core/src/content/padding.js';
import { decodeDeviceList, encodeDeviceList } from '../../../../core/src/gateway/durable/device-lists.js';
import { decodeEvent, encodeEvent } from '../../../../core/src/gateway/durable/event-outbox.js';
import { periodKeyContext } from '../../../../core/src/gateway/durable/period-keys.js';
import {
  contentAad,
  decodeBusinessConfig,
  decodeMessageRecord as decodeMessage,
  decodeMessageIndex,
  decodeMessageRecord,
  decodeNumberKeys,
  decodeOutboxEntry,
  decodeTimestamp,
  encodeBusinessConfig,
  encodeMessageIndex,
  encodeMessageRecord,
  encodeNumberKeys,
  encodeOutboxEntry,
  encodeTimestamp,
  openContent,
} from '../../../../core/src/gateway/durable/records.js';
import { decodeKyberPreKeyRecord, encodeKyberPreKeyRecord } from '../../../../core/src/keys/kyber-prekeys.js';
import {
  decodeOneTimePreKeyRecord,
  decodeSignedPreKeyRecord,
  encodeOneTimePreKeyRecord,
  encodeSignedPreKeyRecord,
} from '../../../../core/src/keys/records.js';
import {
  decodeSessionRecord,
  decodeSessionState,
  encodeSessionRecord,
  encodeSessionState,
} from '../../../../core/src/ratchet/session-record.js';
import {
  decodeDaysState,
  decodePeopleState,
  encodeDaysState,
  encodePeopleState,
} from '../../../../core/src/stats/state.js';
import type { Rng } from '../../rng.js';
import {
  type ByteInput,
  type ByteSeed,
  describeByteInput,
  generateByteInput,
  shrinkByteInput,
} from '../byte-input.js';
import { codeOf, untypedViolation, violation } from '../classify.js';
import { buildGatewayFixture } from '../gateway-fixture.js';
import { buildSessionFixture } from '../session-fixture.js';
import type { Execution, FuzzTarget } from '../target.js';

/** A decoder of stored bytes, with its encoder when there is one (for the round trip). */
interface RecordCodec {
  readonly name: string;
  decode(bytes: Uint8Array): unknown;
  encode?(value: never): Uint8Array;
  readonly seeds: Uint8Array[];
}

interface RecordInput extends ByteInput {
  readonly codec: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function codecs(seed: string): Promise<RecordCodec[]> {
  const sessions = await buildSessionFixture(seed);
  const gateway = await buildGatewayFixture(seed);
  const codec = (
    name: string,
    decode: RecordCodec['decode'],
    encode?: RecordCodec['encode'],
  ): RecordCodec => ({
    name,
    decode,
    encode,
    seeds: [],
  });
  const list = {
    session: codec('session record', decodeSessionRecord, encodeSessionRecord as never),
    state: codec('session state', decodeSessionState, encodeSessionState as never),
    signed: codec('signed prekey record', decodeSignedPreKeyRecord, encodeSignedPreKeyRecord as never),
    oneTime: codec('one-time prekey record', decodeOneTimePreKeyRecord, encodeOneTimePreKeyRecord as never),
    kyber: codec('Kyber prekey record', decodeKyberPreKeyRecord, encodeKyberPreKeyRecord as never),
    business: codec('business config', decodeBusinessConfig, encodeBusinessConfig as never),
    numberKeys: codec('number keys', decodeNumberKeys, encodeNumberKeys as never),
    message: codec('message record', decodeMessageRecord, encodeMessageRecord as never),
    outbox: codec('outbox entry', decodeOutboxEntry, encodeOutboxEntry as never),
    index: codec('message index', decodeMessageIndex, encodeMessageIndex as never),
    devices: codec('device list', decodeDeviceList, encodeDeviceList as never),
    timestamp: codec('timestamp', decodeTimestamp, encodeTimestamp as never),
    days: codec('statistics days', decodeDaysState, encodeDaysState as never),
    people: codec('statistics people', decodePeopleState, encodePeopleState as never),
    padding: codec('padded content', unpadContent),
    event: codec('event record', (bytes) => decodeEvent(bytes, 'acme'), encodeEvent as never),
    content: codec('sealed content (inner)', () => undefined),
  };
  for (const snapshot of [sessions.receiver, ...sessions.senders]) {
    for (const r of snapshot.get('sessions') ?? []) {
      list.session.seeds.push(r.value);
      const current = decodeSessionRecord(r.value).current;
      if (current) list.state.seeds.push(encodeSessionState(current));
      for (const archived of decodeSessionRecord(r.value).archived) list.state.seeds.push(archived);
    }
    for (const r of snapshot.get('prekeys') ?? []) {
      if (r.key.includes('/signed/')) list.signed.seeds.push(r.value);
      if (r.key.includes('/one-time/')) list.oneTime.seeds.push(r.value);
      if (r.key.includes('/kyber/')) list.kyber.seeds.push(r.value);
    }
  }
  // Gateway records, opened with each business's record key where they are sealed.
  const provider = createLocalKeyProvider({ kek: gateway.kek, crypto: gateway.crypto });
  for (const [namespace, records] of gateway.store) {
    for (const r of records) {
      let plain = r.value;
      for (const { id } of gateway.businesses) {
        try {
          plain = (await gateway.sealer(id)).open(namespace, r.key, r.value);
          break;
        } catch {
          // not sealed by this business
        }
      }
      const key = r.key;
      if (key.startsWith('gw/business/')) list.business.seeds.push(plain);
      else if (/^gw\/b\/[^/]+\/keys\//.test(key)) list.numberKeys.seeds.push(plain);
      else if (/^gw\/b\/[^/]+\/m\//.test(key)) {
        list.message.seeds.push(plain);
        // The sealed content inside: opened with its period key, its plaintext is a seed too.
        const record = decodeMessage(plain);
        const biz = /^gw\/b\/([^/]+)\//.exec(key)![1]!;
        const wrapped = gateway.vault
          .get('vault')
          ?.find((v) => v.key === `gw/b/${biz}/period/${record.period}`);
        if (wrapped) {
          const periodKey = await provider.unwrapKey(wrapped.value, periodKeyContext(biz, record.period));
          const id = key.slice(key.lastIndexOf('/') + 1);
          const inner = gateway.crypto.aes256GcmDecrypt(
            periodKey,
            record.content.subarray(0, 12),
            record.content.subarray(12),
            new TextEncoder().encode(contentAad(biz, id)),
          );
          contentKeys.push({ periodKey, aad: contentAad(biz, id) });
          list.content.seeds.push(inner);
          list.padding.seeds.push(inner);
        }
      } else if (/^gw\/b\/[^/]+\/o\//.test(key)) list.outbox.seeds.push(plain);
      else if (key.startsWith('gw/id/')) list.index.seeds.push(plain);
      else if (/^gw\/b\/[^/]+\/d\//.test(key)) list.devices.seeds.push(plain);
      else if (/^gw\/b\/[^/]+\/c\//.test(key)) list.timestamp.seeds.push(plain);
      else if (/\/statistics$/.test(key)) list.days.seeds.push(plain);
      else if (/\/statistics-people$/.test(key)) list.people.seeds.push(plain);
    }
  }
  // Durable status and dropped events (the gateway's event outbox): a few of each kind.
  const messageId = 'm0123456789abcdef0123456789abcdef' as never;
  const base = {
    eventId: 'e5f0c1a2b3c4d5e6f708192a3b4c5d6e7',
    at: 1_767_225_600_000,
    businessId: 'acme',
    messageId,
  };
  list.event.seeds.push(
    encodeEvent({ ...base, type: 'status', status: 'accepted', devices: [] }),
    encodeEvent({
      ...base,
      type: 'status',
      status: 'delivered',
      devices: [
        { deviceId: 1, state: 'delivered' },
        { deviceId: 2, state: 'sent' },
      ],
    }),
    encodeEvent({
      ...base,
      type: 'status',
      status: 'failed',
      reason: 'ERR_TRANSPORT_FAILURE',
      devices: [{ deviceId: 3, state: 'pending' }],
    }),
    encodeEvent({ ...base, type: 'dropped', attempts: 4 }),
  );
  // Inner content: re-encrypted under its period key, so openContent's reader sees the mutation.
  const crypto = gateway.crypto;
  list.content.decode = (bytes: Uint8Array) => {
    const { periodKey, aad } = contentKeys[0]!;
    const nonce = new Uint8Array(12);
    const sealed = new Uint8Array(12 + bytes.length + 16);
    sealed.set(crypto.aes256GcmEncrypt(periodKey, nonce, bytes, new TextEncoder().encode(aad)), 12);
    return openContent(crypto, periodKey, aad, sealed);
  };
  const out = Object.values(list).filter((c) => c.seeds.length > 0);
  const missing = Object.values(list).filter((c) => c.seeds.length === 0);
  if (missing.length > 0) throw new Error(`no seeds for ${missing.map((c) => c.name).join(', ')}`);
  return out;
}

const contentKeys: { periodKey: Uint8Array; aad: string }[] = [];

/**
 * Every decoder of stored bytes — session records and states, key and prekey records, every
 * gateway record family, statistics state, sealed content, padding — seeded from the real
 * records of the two fixtures, with a round trip (encode ∘ decode is stable) for what decodes.
 */
export const recordsTarget: FuzzTarget<RecordInput> = {
  name: 'records.decoders',
  depths: ['format byte', 'body', 'decoded'],
  inputs: { quick: 8_000, full: 300_000 },
  async setup(seed) {
    const all = await codecs(seed);
    const byName = new Map(all.map((c) => [c.name, c]));
    const seeds = new Map(
      all.map((c) => [
        c.name,
        c.seeds.map((bytes, i): ByteSeed => ({ label: `${c.name} #${i}`, bytes, shape: 'record' })),
      ]),
    );
    return {
      generate(rng: Rng): RecordInput {
        const c = rng.pick(all);
        return { ...generateByteInput(rng, seeds.get(c.name)!), codec: c.name };
      },
      describe: (input) => `${input.codec}: ${describeByteInput(input)}`,
      *shrink(input) {
        for (const smaller of shrinkByteInput(input)) yield { ...smaller, codec: input.codec };
      },
      async execute(input): Promise<Execution> {
        const c = byName.get(input.codec)!;
        let decoded: unknown;
        try {
          decoded = c.decode(input.bytes);
        } catch (error) {
          const outcome = `${c.name}: ${codeOf(error)}`;
          const formatOnly =
            isParleyError(error) &&
            /unknown format|format \d+ is not supported|truncated or corrupt/.test(error.message) &&
            Number(error.details.offset ?? 0) <= 1;
          if (!isParleyError(error)) return { outcome, depth: 1, violation: untypedViolation(error, c.name) };
          return { outcome, depth: formatOnly ? 0 : 1 };
        }
        if (!c.encode) return { outcome: `${c.name}: accepted`, depth: 2 };
        try {
          const once = c.encode(decoded as never);
          const twice = c.encode(c.decode(once) as never);
          if (!sameBytes(once, twice)) {
            const error = new Error(
              `${c.name}: encode(decode(encode(decode(x)))) differs from encode(decode(x))`,
            );
            return {
              outcome: `${c.name}: accepted`,
              depth: 2,
              violation: violation('round-trip', error, c.name),
            };
          }
        } catch (error) {
          if (!isParleyError(error))
            return {
              outcome: `${c.name}: accepted`,
              depth: 2,
              violation: untypedViolation(error, `${c.name} re-encode`),
            };
          return {
            outcome: `${c.name}: accepted`,
            depth: 2,
            violation: violation(
              'round-trip',
              error,
              `${c.name}: decoded but does not encode (${codeOf(error)})`,
            ),
          };
        }
        return { outcome: `${c.name}: accepted`, depth: 2 };
      },
    };
  },
};
