import { isParleyError, ParleyError } from '@parley/core';
import {
  appendMac,
  type DecodedPreKeySignalMessage,
  type DecodedSignalMessage,
  decodePreKeySignalMessage,
  decodeSignalMessage,
  encodePreKeySignalMessage,
  encodeSignalMessageBody,
} from '../../../../core/src/wire/index.js';
import type { Rng } from '../../rng.js';
import {
  type ByteInput,
  type ByteSeed,
  describeByteInput,
  generateByteInput,
  shrinkByteInput,
} from '../byte-input.js';
import { codeOf, untypedViolation, violation } from '../classify.js';
import { type Arg, arg, bad, GRAMMAR_DEPTHS, judgeCall, ok } from '../grammar.js';
import { buildSessionFixture } from '../session-fixture.js';
import type { Execution, FuzzTarget } from '../target.js';

/** Refusals that looked at nothing but the first byte or the length. */
export function diesAtFirstByte(error: unknown): boolean {
  if (!isParleyError(error)) return false;
  if (error.code === 'ERR_UNKNOWN_VERSION' || error.code === 'ERR_MESSAGE_TOO_LARGE') return true;
  return error.code === 'ERR_INVALID_MESSAGE' && /too short|is empty/.test(error.message);
}

async function messageSeeds(seed: string): Promise<{ signal: ByteSeed[]; prekey: ByteSeed[] }> {
  const fixture = await buildSessionFixture(seed);
  const signal: ByteSeed[] = [];
  const prekey: ByteSeed[] = [];
  for (const s of fixture.seeds) {
    if (s.type === 3) {
      prekey.push({ label: s.label, bytes: s.body, shape: 'prekey-message' });
      const inner = decodePreKeySignalMessage(s.body).message;
      signal.push({ label: `${s.label}/inner`, bytes: inner, shape: 'signal-message' });
    } else signal.push({ label: s.label, bytes: s.body, shape: 'signal-message' });
  }
  return { signal, prekey };
}

const WIRE_DEPTHS = ['first-byte', 'body', 'decoded'] as const;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function decodeTarget<D>(options: {
  name: string;
  inputs: { quick: number; full: number };
  pick: (seeds: { signal: ByteSeed[]; prekey: ByteSeed[] }) => ByteSeed[];
  decode: (bytes: Uint8Array) => D;
  reencode: (decoded: D) => Uint8Array;
  same: (a: D, b: D) => boolean;
}): FuzzTarget<ByteInput> {
  return {
    name: options.name,
    depths: WIRE_DEPTHS,
    inputs: options.inputs,
    async setup(seed) {
      const seeds = options.pick(await messageSeeds(seed));
      return {
        generate: (rng: Rng) => generateByteInput(rng, seeds),
        describe: describeByteInput,
        shrink: (input) => shrinkByteInput(input),
        async execute(input): Promise<Execution> {
          let decoded: D;
          try {
            decoded = options.decode(input.bytes);
          } catch (error) {
            const depth = diesAtFirstByte(error) ? 0 : 1;
            if (!isParleyError(error))
              return { outcome: 'UNTYPED', depth, violation: untypedViolation(error, options.name) };
            return { outcome: error.code, depth };
          }
          // Accepted: what was decoded must encode again and decode to the same fields.
          try {
            const again = options.decode(options.reencode(decoded));
            if (!options.same(decoded, again)) {
              const error = new ParleyError(
                'ERR_INVALID_MESSAGE',
                'decode(encode(decoded)) differs from decoded',
              );
              return {
                outcome: 'accepted',
                depth: 2,
                violation: violation('round-trip', error, options.name),
              };
            }
          } catch (error) {
            if (!isParleyError(error))
              return {
                outcome: 'accepted',
                depth: 2,
                violation: untypedViolation(error, `${options.name} re-encode`),
              };
            return { outcome: `accepted (re-encode refused: ${codeOf(error)})`, depth: 2 };
          }
          return { outcome: 'accepted', depth: 2 };
        },
      };
    },
  };
}

export const signalMessageTarget = decodeTarget<DecodedSignalMessage>({
  name: 'wire.decodeSignalMessage',
  inputs: { quick: 6_000, full: 200_000 },
  pick: (seeds) => seeds.signal,
  decode: decodeSignalMessage,
  reencode: (m) => appendMac(encodeSignalMessageBody(m), m.mac),
  same: (a, b) =>
    a.version === b.version &&
    a.counter === b.counter &&
    a.previousCounter === b.previousCounter &&
    sameBytes(a.ratchetKey, b.ratchetKey) &&
    sameBytes(a.ciphertext, b.ciphertext) &&
    sameBytes(a.mac, b.mac),
});

export const preKeyMessageTarget = decodeTarget<DecodedPreKeySignalMessage>({
  name: 'wire.decodePreKeySignalMessage',
  inputs: { quick: 6_000, full: 200_000 },
  pick: (seeds) => seeds.prekey,
  decode: decodePreKeySignalMessage,
  reencode: (m) => encodePreKeySignalMessage(m),
  same: (a, b) =>
    a.version === b.version &&
    a.registrationId === b.registrationId &&
    a.preKeyId === b.preKeyId &&
    a.signedPreKeyId === b.signedPreKeyId &&
    a.kyberPreKeyId === b.kyberPreKeyId &&
    sameBytes(a.baseKey, b.baseKey) &&
    sameBytes(a.identityKey, b.identityKey) &&
    sameBytes(a.message, b.message) &&
    sameBytes(a.kyberCiphertext, b.kyberCiphertext),
});

// ── Encoders with generated fields ──────────────────────────────────────────────────

interface EncoderInput {
  readonly encoder: 'signal' | 'prekey' | 'mac';
  readonly fields: Record<string, Arg>;
}

/** Field values for the encoders: valid ones from real messages, boundary and wrong-typed ones. */
function encoderInput(rng: Rng, seeds: { signal: ByteSeed[]; prekey: ByteSeed[] }): EncoderInput {
  const encoder = rng.pick(['signal', 'prekey', 'mac'] as const);
  const signal = decodeSignalMessage(rng.pick(seeds.signal).bytes);
  const prekey = decodePreKeySignalMessage(rng.pick(seeds.prekey).bytes);
  const key33 = (valid: Uint8Array) =>
    arg(
      rng,
      'bytes',
      [ok(valid, 'a real key')],
      [bad(valid.subarray(1), '32 bytes'), bad(new Uint8Array(33), '33 zero bytes (type 0)')],
      0.1,
    );
  const u32 = (valid: number) =>
    arg(
      rng,
      'number',
      [ok(valid, String(valid)), ok(0, '0'), ok(0xffff_ffff, '2^32-1')],
      [bad(-1, '-1'), bad(2 ** 32, '2^32'), bad(1.5, '1.5')],
      0.1,
    );
  const version = arg(rng, 'number', [ok(3, '3'), ok(4, '4')], [bad(2, '2'), bad(5, '5')], 0.06);
  if (encoder === 'mac') {
    return {
      encoder,
      fields: {
        body: arg(
          rng,
          'bytes',
          [ok(signal.body, 'a real body')],
          [bad(new Uint8Array(300_000), '300 kB')],
          0.2,
        ),
        mac: arg(
          rng,
          'bytes',
          [ok(signal.mac, '8 bytes')],
          [bad(new Uint8Array(7), '7 bytes'), bad(new Uint8Array(32), '32 bytes')],
          0.3,
        ),
      },
    };
  }
  if (encoder === 'signal') {
    return {
      encoder,
      fields: {
        version,
        ratchetKey: key33(signal.ratchetKey),
        counter: u32(signal.counter),
        previousCounter: u32(signal.previousCounter),
        ciphertext: arg(
          rng,
          'bytes',
          [ok(signal.ciphertext, 'real ciphertext'), ok(new Uint8Array(0), 'empty')],
          [bad(new Uint8Array(300_000), '300 kB')],
          0.2,
        ),
      },
    };
  }
  const kyber = prekey.kyberCiphertext ?? new Uint8Array(1569).fill(8, 0, 1);
  return {
    encoder,
    fields: {
      version,
      registrationId: u32(prekey.registrationId),
      preKeyId: arg(
        rng,
        'number',
        [ok(prekey.preKeyId, String(prekey.preKeyId)), ok(undefined, 'absent')],
        [bad(-1, '-1'), bad(2 ** 32, '2^32')],
        0.08,
      ),
      signedPreKeyId: u32(prekey.signedPreKeyId),
      baseKey: key33(prekey.baseKey),
      identityKey: key33(prekey.identityKey),
      message: arg(rng, 'bytes', [ok(prekey.message, 'a real message')], [], 0.15),
      kyberPreKeyId: arg(
        rng,
        'number',
        [ok(prekey.kyberPreKeyId, String(prekey.kyberPreKeyId)), ok(undefined, 'absent'), ok(7, '7')],
        [bad(-1, '-1')],
        0.08,
      ),
      kyberCiphertext: arg(
        rng,
        'bytes',
        [
          ok(prekey.kyberCiphertext, 'its ciphertext'),
          ok(undefined, 'absent'),
          ok(kyber, 'a Kyber ciphertext'),
        ],
        [bad(kyber.subarray(1), '1568 bytes')],
        0.08,
      ),
    },
  };
}

/**
 * The wire encoders with generated fields: every value must be refused with a ParleyError or
 * encode into bytes that decode back to the same fields.
 */
export const wireEncodersTarget: FuzzTarget<EncoderInput> = {
  name: 'wire.encoders',
  depths: GRAMMAR_DEPTHS,
  inputs: { quick: 3_000, full: 60_000 },
  async setup(seed) {
    const seeds = await messageSeeds(seed);
    return {
      generate: (rng: Rng) => encoderInput(rng, seeds),
      describe: (input) =>
        `${input.encoder}(${Object.entries(input.fields)
          .map(([k, f]) => `${k}: ${f.label}${f.invalid ? ' [invalid]' : ''}`)
          .join(', ')})`,
      async execute(input): Promise<Execution> {
        const values = Object.fromEntries(Object.entries(input.fields).map(([k, f]) => [k, f.value]));
        const args = Object.entries(input.fields).map(([k, f]) => ({ ...f, label: `${k}: ${f.label}` }));
        const judged = await judgeCall({
          op: `encode ${input.encoder}`,
          args,
          run: async () => {
            if (input.encoder === 'mac') return appendMac(values.body as never, values.mac as never);
            if (input.encoder === 'signal') {
              const body = encodeSignalMessageBody(values as never);
              const decoded = decodeSignalMessage(appendMac(body, new Uint8Array(8)));
              if (
                decoded.counter !== values.counter ||
                !sameBytes(decoded.ciphertext, values.ciphertext as Uint8Array)
              )
                throw new RoundTripError('SignalMessage fields changed in encode → decode');
              return body;
            }
            const bytes = encodePreKeySignalMessage(values as never);
            const decoded = decodePreKeySignalMessage(bytes);
            if (decoded.preKeyId !== values.preKeyId || decoded.registrationId !== values.registrationId)
              throw new RoundTripError('PreKeySignalMessage fields changed in encode → decode');
            return bytes;
          },
        });
        if (judged.violation?.detail.startsWith('RoundTripError'))
          return {
            ...judged,
            violation: violation('round-trip', new Error(judged.violation.detail), `encode ${input.encoder}`),
          };
        return { outcome: judged.outcome, depth: judged.depth, violation: judged.violation };
      },
    };
  },
};

class RoundTripError extends Error {
  override name = 'RoundTripError';
}
