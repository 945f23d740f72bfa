/**
 * The sealed media record the gateway will keep beside each blob: it round-trips, holds no media
 * key or hash in the clear, does not open under another key or media id, and once the retention
 * period's key is destroyed (the gateway's own PeriodKeys and vault sweep) nothing opens the
 * blob any more — the blob store's copy included, swept or not.
 */
import { describe, expect, it } from 'vitest';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { PeriodKeys } from '../src/gateway/durable/period-keys.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import {
  blobOpener,
  createMediaPointer,
  createMemoryBlobStore,
  decryptMediaStream,
  encryptMediaStream,
} from '../src/media/index.js';
import {
  decodeMediaRecord,
  encodeMediaRecord,
  type MediaFields,
  mediaRecordAad,
  openMediaFields,
  sealMediaFields,
} from '../src/media/media-record.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { createManualClock } from '../src/testing/manual-clock.js';

const crypto = createNodeCrypto();
const DAY = 24 * 60 * 60 * 1000;

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

describe('sealed media record', () => {
  const random = createDeterministicRandom('media record');
  const periodKey = random(32);
  const fields: MediaFields = {
    type: 'document',
    mimetype: 'application/pdf',
    mediaKey: random(32),
    fileSha256: random(32),
    fileEncSha256: random(32),
    fileLength: 123_456,
    caption: 'invoice 42',
    fileName: 'invoice-42.pdf',
    mediaKeyTimestamp: 1_700_000_000,
  };

  it('round-trips the record and the sealed fields; the key and hashes are not in the clear', () => {
    const aad = mediaRecordAad('biz-1', 'media-1');
    const sealed = sealMediaFields({ crypto, random, periodKey, aad }, fields);
    const record = {
      blobId: 'b/biz-1/x',
      createdAt: 1,
      deadline: 2 * DAY,
      period: 2,
      encryptedLength: 123_466,
      sealed,
    };
    const encoded = encodeMediaRecord(record);
    expect(decodeMediaRecord(encoded)).toEqual(record);
    for (const secret of [fields.mediaKey, fields.fileSha256, fields.fileEncSha256, Buffer.from('invoice')]) {
      expect(contains(encoded, secret)).toBe(false);
    }
    expect(openMediaFields({ crypto, periodKey, aad }, sealed)).toEqual(fields);
    const minimal = { ...fields, caption: undefined, fileName: undefined, mediaKeyTimestamp: undefined };
    const { caption: _c, fileName: _f, mediaKeyTimestamp: _m, ...expected } = minimal;
    expect(
      openMediaFields(
        { crypto, periodKey, aad },
        sealMediaFields({ crypto, random, periodKey, aad }, minimal),
      ),
    ).toEqual(expected);
  });

  it('does not open under another key, another media id or business, or when corrupted', () => {
    const aad = mediaRecordAad('biz-1', 'media-1');
    const sealed = sealMediaFields({ crypto, random, periodKey, aad }, fields);
    const corrupted = sealed.slice();
    corrupted[20]! ^= 1;
    for (const [key, otherAad, bytes] of [
      [random(32), aad, sealed],
      [periodKey, mediaRecordAad('biz-1', 'media-2'), sealed],
      [periodKey, mediaRecordAad('biz-2', 'media-1'), sealed],
      [periodKey, aad, corrupted],
      [periodKey, aad, sealed.subarray(0, 20)],
    ] as const) {
      let error: unknown;
      try {
        openMediaFields({ crypto, periodKey: key, aad: otherAad }, bytes);
      } catch (caught) {
        error = caught;
      }
      expect(isParleyError(error, 'ERR_INVALID_RECORD')).toBe(true);
    }
    expect(() => decodeMediaRecord(Uint8Array.of(9))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_RECORD' }),
    );
  });

  it('destroying the period key shreds the blob: the record no longer opens, whatever the blob store holds', async () => {
    const clock = createManualClock(10 * DAY);
    const rng = createDeterministicRandom('shredding');
    const periodKeys = new PeriodKeys({
      vaultStore: createMemoryStore({ clock }),
      keyProvider: createLocalKeyProvider({ kek: rng(32), crypto }),
      random: rng,
      clock,
      periodMs: DAY,
    });
    const blobs = createMemoryBlobStore({ clock });
    const plaintext = new TextEncoder().encode('a photo of the receipt '.repeat(1000));
    const deadline = clock.now() + 2 * DAY;

    // Upload: encrypt into the blob store, seal the fields under the deadline's period key.
    const { blob, media } = encryptMediaStream([plaintext], { type: 'image', crypto, random: rng });
    await blobs.put('m-1', blob, { maxBytes: 1_000_000, expiresAt: deadline });
    const { period, key } = await periodKeys.forDeadline('biz-1', deadline);
    const aad = mediaRecordAad('biz-1', 'm-1');
    const record = decodeMediaRecord(
      encodeMediaRecord({
        blobId: 'm-1',
        createdAt: clock.now(),
        deadline,
        period,
        encryptedLength: (await media).encryptedLength,
        sealed: sealMediaFields(
          { crypto, random: rng, periodKey: key, aad },
          { ...(await media), mimetype: 'image/jpeg' },
        ),
      }),
    );

    // Download while retained: open the fields with the period key, decrypt the blob.
    const open = async () => {
      const periodKey = await periodKeys.forPeriod('biz-1', record.period);
      if (periodKey === undefined) return undefined;
      const pointer = createMediaPointer({
        ...openMediaFields({ crypto, periodKey, aad }, record.sealed),
        directPath: '/m-1',
      });
      return new Uint8Array(
        await new Response(
          decryptMediaStream(blobOpener(blobs, record.blobId), pointer, { crypto }),
        ).arrayBuffer(),
      );
    };
    expect(await open()).toEqual(plaintext);

    // A copy of the blob taken now (a backup) outlives the blob store's sweep...
    const backup = new Uint8Array(await new Response((await blobs.get('m-1'))!.stream).arrayBuffer());
    clock.advance(3 * DAY);
    expect(await blobs.get('m-1')).toBeUndefined();
    expect(await blobs.sweepExpired(clock.now())).toBe(1);
    // ...but once the period key is destroyed, nothing opens the record, so the backup is noise.
    await periodKeys.destroyExpired();
    periodKeys.clear();
    expect(await periodKeys.forPeriod('biz-1', record.period)).toBeUndefined();
    expect(await open()).toBeUndefined();
    expect(contains(backup, plaintext.subarray(0, 16))).toBe(false);
  });
});
