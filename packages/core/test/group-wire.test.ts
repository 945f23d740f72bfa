/**
 * Sender-key wire codecs, checked against the peers' own encoders and parsers (libsignal-client's
 * `_new`/`deserialize`, Baileys' message classes) and against attacker bytes.
 */
import {
  SenderKeyDistributionMessage as BaileysDistributionMessage,
  SenderKeyMessage as BaileysSenderKeyMessage,
} from 'baileys/lib/Signal/Group/index.js';
import fc from 'fast-check';
import * as lsc023 from 'lsc-0-23';
import * as lsc0103 from 'lsc-0-103';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { distributionIdFromString, distributionIdToString } from '../src/groups/distribution-id.js';
import { generateKeyPair, sign, verifySignature } from '../src/keys/curve.js';
import {
  decodeSenderKeyDistributionMessage,
  encodeSenderKeyDistributionMessage,
} from '../src/wire/sender-key-distribution-message.js';
import type { SenderKeyFormat } from '../src/wire/sender-key-format.js';
import {
  appendSenderKeySignature,
  decodeSenderKeyMessage,
  encodeSenderKeyMessageBody,
} from '../src/wire/sender-key-message.js';
import { testCrypto } from './support/parties.js';
import { bytesField, expectCode, expectDecodeOrParleyError, varintField } from './support/wire.js';

const crypto = testCrypto();
const random = createDeterministicRandom('group-wire');
const ctx = { crypto, random };
const FORMATS: readonly SenderKeyFormat[] = ['signal', 'whatsapp'];
const UUID = '2b0c9d3e-7f41-4a5b-9c6d-0e1f2a3b4c5d';

/** The libsignal-client versions whose group message classes we compare bytes with. */
const LSC = { 'lsc-0.23.1': lsc023, 'lsc-0.103.0': lsc0103 } as unknown as Record<
  string,
  {
    PrivateKey: { deserialize(bytes: Buffer): { getPublicKey(): { serialize(): Uint8Array } } };
    PublicKey: { deserialize(bytes: Buffer): object };
    SenderKeyMessage: {
      _new(v: number, id: string, chain: number, it: number, ct: Buffer, key: object): LscSkm;
      deserialize(bytes: Buffer): LscSkm;
    };
    SenderKeyDistributionMessage: {
      _new(v: number, id: string, chain: number, it: number, ck: Buffer, key: object): LscSkdm;
      deserialize(bytes: Buffer): LscSkdm;
    };
  }
>;
interface LscSkm {
  serialize(): Uint8Array;
  chainId(): number;
  iteration(): number;
  ciphertext(): Uint8Array;
  distributionId(): string;
  verifySignature(key: object): boolean;
}
interface LscSkdm {
  serialize(): Uint8Array;
  chainId(): number;
  iteration(): number;
  chainKey(): Uint8Array;
  distributionId(): string;
}

function fields(format: SenderKeyFormat, overrides: Partial<{ chainId: number; iteration: number }> = {}) {
  return {
    format,
    distributionId: format === 'signal' ? distributionIdFromString(UUID) : undefined,
    chainId: overrides.chainId ?? 0x5eed_1234,
    iteration: overrides.iteration ?? 17,
  };
}

describe.each(Object.keys(LSC))('byte for byte with %s', (kind) => {
  const api = LSC[kind]!;
  const signing = generateKeyPair(ctx);
  const lscPrivate = api.PrivateKey.deserialize(Buffer.from(signing.privateKey));

  it('distribution message: the same bytes as libsignal-client builds, and parsed alike', () => {
    for (const iteration of [0, 1, 127, 128, 0xffff_ffff]) {
      const chainKey = random(32);
      const ours = encodeSenderKeyDistributionMessage({
        ...fields('signal', { iteration }),
        chainKey,
        signingKey: signing.publicKey,
      });
      const theirs = api.SenderKeyDistributionMessage._new(
        3,
        UUID,
        0x5eed_1234,
        iteration,
        Buffer.from(chainKey),
        api.PublicKey.deserialize(Buffer.from(signing.publicKey)),
      );
      expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs.serialize()).toString('hex'));
      const parsed = api.SenderKeyDistributionMessage.deserialize(Buffer.from(ours));
      expect([parsed.chainId(), parsed.iteration(), parsed.distributionId()]).toEqual([
        0x5eed_1234,
        iteration,
        UUID,
      ]);
      expect(Buffer.from(parsed.chainKey()).equals(Buffer.from(chainKey))).toBe(true);
    }
  });

  it('group message: the same signed bytes, and each side verifies the other’s signature', () => {
    const ciphertext = random(48);
    const body = encodeSenderKeyMessageBody({ ...fields('signal'), ciphertext });
    const ours = appendSenderKeySignature(body, sign(ctx, signing.privateKey, body));
    const theirs = api.SenderKeyMessage._new(
      3,
      UUID,
      0x5eed_1234,
      17,
      Buffer.from(ciphertext),
      lscPrivate,
    ).serialize();
    expect(Buffer.from(theirs.subarray(0, theirs.length - 64)).toString('hex')).toBe(
      Buffer.from(body).toString('hex'),
    );
    const parsed = api.SenderKeyMessage.deserialize(Buffer.from(ours));
    expect(parsed.verifySignature(api.PublicKey.deserialize(Buffer.from(signing.publicKey)))).toBe(true);
    const decoded = decodeSenderKeyMessage(Uint8Array.from(theirs), 'signal');
    expect(verifySignature(crypto, signing.publicKey, decoded.signed, decoded.signature)).toBe(true);
    expect(distributionIdToString(decoded.distributionId!)).toBe(UUID);
    expect([decoded.chainId, decoded.iteration]).toEqual([0x5eed_1234, 17]);
    expect(decoded.ciphertext).toEqual(ciphertext);
  });
});

describe('byte for byte with Baileys 7.0.0-rc14', () => {
  const signing = generateKeyPair(ctx);

  it('distribution message: the same bytes as Baileys builds, and parsed alike', () => {
    for (const iteration of [0, 1, 300, 0x7fff_ffff]) {
      const chainKey = random(32);
      const ours = encodeSenderKeyDistributionMessage({
        ...fields('whatsapp', { iteration, chainId: 0x1234_5678 }),
        chainKey,
        signingKey: signing.publicKey,
      });
      const theirs = new BaileysDistributionMessage(
        0x1234_5678,
        iteration,
        Buffer.from(chainKey),
        Buffer.from(signing.publicKey),
      ).serialize();
      expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
      const parsed = new BaileysDistributionMessage(null, null, null, null, Buffer.from(ours));
      expect([parsed.getId(), parsed.getIteration()]).toEqual([0x1234_5678, iteration]);
      expect(Buffer.from(parsed.getChainKey()).equals(Buffer.from(chainKey))).toBe(true);
    }
  });

  it('group message: the same signed bytes, and each side verifies the other’s signature', () => {
    const ciphertext = random(32);
    const body = encodeSenderKeyMessageBody({ ...fields('whatsapp', { chainId: 77 }), ciphertext });
    const ours = appendSenderKeySignature(body, sign(ctx, signing.privateKey, body));
    const theirs = new BaileysSenderKeyMessage(
      77,
      17,
      Buffer.from(ciphertext),
      Buffer.from(signing.privateKey),
    ).serialize();
    expect(Buffer.from(theirs.subarray(0, theirs.length - 64)).toString('hex')).toBe(
      Buffer.from(body).toString('hex'),
    );
    const parsed = new BaileysSenderKeyMessage(null, null, null, null, Buffer.from(ours));
    expect(() => parsed.verifySignature(Buffer.from(signing.publicKey))).not.toThrow();
    expect([parsed.getKeyId(), parsed.getIteration()]).toEqual([77, 17]);
    const decoded = decodeSenderKeyMessage(Uint8Array.from(theirs), 'whatsapp');
    expect(verifySignature(crypto, signing.publicKey, decoded.signed, decoded.signature)).toBe(true);
    expect([decoded.chainId, decoded.iteration, decoded.distributionId]).toEqual([77, 17, undefined]);
  });
});

describe('decoders refuse malformed input with typed errors', () => {
  const signing = generateKeyPair(ctx);
  const chainKey = new Uint8Array(32).fill(7);

  it.each(FORMATS)('%s: round trip, any field order, unknown fields skipped', (format) => {
    const skdm = encodeSenderKeyDistributionMessage({
      ...fields(format),
      chainKey,
      signingKey: signing.publicKey,
    });
    const decoded = decodeSenderKeyDistributionMessage(skdm, format);
    expect(decoded).toMatchObject({ format, version: 3, chainId: 0x5eed_1234, iteration: 17 });
    expect(decoded.chainKey).toEqual(chainKey);
    expect(decoded.signingKey).toEqual(signing.publicKey);
    // Reversed fields and an unknown field 9 parse the same.
    const f =
      format === 'signal' ? { id: 1, chain: 2, it: 3, ck: 4, sk: 5 } : { chain: 1, it: 2, ck: 3, sk: 4 };
    const reversed = concatBytes(
      Uint8Array.of(0x33),
      bytesField(f.sk, signing.publicKey),
      bytesField(9, Uint8Array.of(1, 2, 3)),
      bytesField(f.ck, chainKey),
      varintField(f.it, 17),
      varintField(f.chain, 0x5eed_1234),
      format === 'signal' ? bytesField(1, distributionIdFromString(UUID)) : new Uint8Array(0),
    );
    expect(decodeSenderKeyDistributionMessage(reversed, format)).toEqual(decoded);
  });

  it.each(FORMATS)('%s distribution message: every required field, length and key type', (format) => {
    const full = { ...fields(format), chainKey, signingKey: signing.publicKey };
    const f = format === 'signal' ? { chain: 2, it: 3, ck: 4, sk: 5 } : { chain: 1, it: 2, ck: 3, sk: 4 };
    const parts = {
      id: format === 'signal' ? bytesField(1, full.distributionId!) : new Uint8Array(0),
      chain: varintField(f.chain, full.chainId),
      it: varintField(f.it, full.iteration),
      ck: bytesField(f.ck, chainKey),
      sk: bytesField(f.sk, signing.publicKey),
    };
    const build = (p: typeof parts) => concatBytes(Uint8Array.of(0x33), p.id, p.chain, p.it, p.ck, p.sk);
    expect(decodeSenderKeyDistributionMessage(build(parts), format).chainId).toBe(full.chainId);
    const names =
      format === 'signal'
        ? (['id', 'chain', 'it', 'ck', 'sk'] as const)
        : (['chain', 'it', 'ck', 'sk'] as const);
    for (const name of names) {
      expectCode(
        () => decodeSenderKeyDistributionMessage(build({ ...parts, [name]: new Uint8Array(0) }), format),
        'ERR_INVALID_MESSAGE',
      );
    }
    expectCode(
      () =>
        decodeSenderKeyDistributionMessage(
          build({ ...parts, ck: bytesField(f.ck, new Uint8Array(31)) }),
          format,
        ),
      'ERR_INVALID_MESSAGE',
    );
    expectCode(
      () =>
        decodeSenderKeyDistributionMessage(
          build({ ...parts, sk: bytesField(f.sk, signing.publicKey.subarray(1)) }),
          format,
        ),
      'ERR_INVALID_KEY',
    );
    const wrongType = signing.publicKey.slice();
    wrongType[0] = 0x06;
    expectCode(
      () => decodeSenderKeyDistributionMessage(build({ ...parts, sk: bytesField(f.sk, wrongType) }), format),
      'ERR_INVALID_KEY',
    );
    // A field of the other format's wire type: a varint where bytes belong, and vice versa.
    expectCode(
      () => decodeSenderKeyDistributionMessage(build({ ...parts, ck: varintField(f.ck, 1) }), format),
      'ERR_INVALID_MESSAGE',
    );
    expectCode(
      () =>
        decodeSenderKeyDistributionMessage(build({ ...parts, chain: bytesField(f.chain, chainKey) }), format),
      'ERR_INVALID_MESSAGE',
    );
    if (format === 'signal') {
      expectCode(
        () =>
          decodeSenderKeyDistributionMessage(
            build({ ...parts, id: bytesField(1, new Uint8Array(15)) }),
            format,
          ),
        'ERR_INVALID_MESSAGE',
      );
    }
    for (const version of [0x23, 0x43, 0x03]) {
      const bytes = build(parts);
      bytes[0] = version;
      expectCode(() => decodeSenderKeyDistributionMessage(bytes, format), 'ERR_UNKNOWN_VERSION');
    }
    expectCode(() => decodeSenderKeyDistributionMessage(new Uint8Array(0), format), 'ERR_INVALID_MESSAGE');
    expectCode(
      () => decodeSenderKeyDistributionMessage(new Uint8Array(300 * 1024), format),
      'ERR_MESSAGE_TOO_LARGE',
    );
  });

  it.each(FORMATS)('%s group message: required fields, short input, version, oversize', (format) => {
    const body = encodeSenderKeyMessageBody({ ...fields(format), ciphertext: new Uint8Array(16) });
    const message = appendSenderKeySignature(body, new Uint8Array(64));
    expect(decodeSenderKeyMessage(message, format).signed).toEqual(body);
    const f = format === 'signal' ? { chain: 2, it: 3, ct: 4 } : { chain: 1, it: 2, ct: 3 };
    const signature = new Uint8Array(64);
    const parts = {
      id: format === 'signal' ? bytesField(1, distributionIdFromString(UUID)) : new Uint8Array(0),
      chain: varintField(f.chain, 5),
      it: varintField(f.it, 6),
      ct: bytesField(f.ct, new Uint8Array(16)),
    };
    const build = (p: typeof parts) => concatBytes(Uint8Array.of(0x33), p.id, p.chain, p.it, p.ct, signature);
    expect(decodeSenderKeyMessage(build(parts), format).iteration).toBe(6);
    const names =
      format === 'signal' ? (['id', 'chain', 'it', 'ct'] as const) : (['chain', 'it', 'ct'] as const);
    for (const name of names) {
      expectCode(
        () => decodeSenderKeyMessage(build({ ...parts, [name]: new Uint8Array(0) }), format),
        'ERR_INVALID_MESSAGE',
      );
    }
    expectCode(() => decodeSenderKeyMessage(message.subarray(0, 64), format), 'ERR_INVALID_MESSAGE');
    const legacy = message.slice();
    legacy[0] = 0x22;
    expectCode(() => decodeSenderKeyMessage(legacy, format), 'ERR_UNKNOWN_VERSION');
    expectCode(() => decodeSenderKeyMessage(new Uint8Array(256 * 1024 + 1), format), 'ERR_MESSAGE_TOO_LARGE');
    // The other format's bytes are refused, not misread.
    const other = format === 'signal' ? 'whatsapp' : 'signal';
    expectCode(() => decodeSenderKeyMessage(message, other), 'ERR_INVALID_MESSAGE');
  });

  it.each(FORMATS)('%s: encoders refuse bad arguments', (format) => {
    expectCode(
      () => encodeSenderKeyMessageBody({ ...fields(format), chainId: -1, ciphertext: new Uint8Array(1) }),
      'ERR_INVALID_ARGUMENT',
    );
    expectCode(
      () =>
        encodeSenderKeyMessageBody({ ...fields(format), iteration: 2 ** 32, ciphertext: new Uint8Array(1) }),
      'ERR_INVALID_ARGUMENT',
    );
    expectCode(
      () =>
        encodeSenderKeyMessageBody({
          ...fields(format),
          distributionId: format === 'signal' ? new Uint8Array(15) : new Uint8Array(16),
          ciphertext: new Uint8Array(1),
        }),
      'ERR_INVALID_ARGUMENT',
    );
    expectCode(
      () =>
        encodeSenderKeyDistributionMessage({
          ...fields(format),
          chainKey: new Uint8Array(31),
          signingKey: signing.publicKey,
        }),
      'ERR_INVALID_ARGUMENT',
    );
    expectCode(
      () =>
        encodeSenderKeyDistributionMessage({
          ...fields(format),
          chainKey,
          signingKey: signing.publicKey.subarray(1),
        }),
      'ERR_INVALID_KEY',
    );
    expectCode(() => appendSenderKeySignature(new Uint8Array(3), new Uint8Array(63)), 'ERR_INVALID_ARGUMENT');
    expectCode(
      () => decodeSenderKeyMessage('bytes' as unknown as Uint8Array, format),
      'ERR_INVALID_ARGUMENT',
    );
    expectCode(
      () => decodeSenderKeyMessage(new Uint8Array(80), 'matrix' as SenderKeyFormat),
      'ERR_INVALID_ARGUMENT',
    );
  });

  it('random bytes, truncations and bit flips only ever give typed errors', () => {
    const valid = FORMATS.flatMap((format) => [
      {
        format,
        kind: 'skdm',
        bytes: encodeSenderKeyDistributionMessage({
          ...fields(format),
          chainKey,
          signingKey: signing.publicKey,
        }),
      },
      {
        format,
        kind: 'skm',
        bytes: appendSenderKeySignature(
          encodeSenderKeyMessageBody({ ...fields(format), ciphertext: new Uint8Array(32) }),
          new Uint8Array(64),
        ),
      },
    ]);
    const decode = (kind: string, bytes: Uint8Array, format: SenderKeyFormat) =>
      kind === 'skdm'
        ? decodeSenderKeyDistributionMessage(bytes, format)
        : decodeSenderKeyMessage(bytes, format);
    for (const { format, kind, bytes } of valid) {
      for (let length = 0; length < bytes.length; length++)
        expectDecodeOrParleyError(() => decode(kind, bytes.subarray(0, length), format));
    }
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.nat(7),
        fc.uint8Array({ maxLength: 200 }),
        (sample, at, bit, noise) => {
          const flipped = sample.bytes.slice();
          flipped[at % flipped.length]! ^= 1 << bit;
          expectDecodeOrParleyError(() => decode(sample.kind, flipped, sample.format));
          expectDecodeOrParleyError(() => decode(sample.kind, noise, sample.format));
        },
      ),
      { numRuns: 400 },
    );
  });
});
