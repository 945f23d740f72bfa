/**
 * The content envelope against a real WhatsApp-family implementation, baileys@7.0.0-rc14:
 * Baileys' own `proto.Message.decode` reads Parley's envelopes (text, every media type, the
 * sender-key distribution message, with Parley's extension field skipped), and Parley reads the
 * `Message` Baileys builds — including a media message made by Baileys' own
 * `prepareWAMessageMedia` (its encryption, its upload hook, its protobuf), whose blob Parley then
 * decrypts; and a Parley media message whose blob Baileys downloads and decrypts.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AnyMediaMessageContent,
  type MediaType as BaileysMediaType,
  downloadContentFromMessage,
  generateWAMessageContent,
  prepareWAMessageMedia,
  proto,
} from 'baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.js';
import {
  decodeContentEnvelope,
  encodeContentEnvelope,
  PARLEY_EXTENSION_FIELD,
} from '../src/content/index.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import {
  createMediaPointer,
  decryptMedia,
  encryptMedia,
  MEDIA_TYPES,
  type MediaPointer,
  type MediaType,
} from '../src/media/index.js';

const crypto = createNodeCrypto();

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** protobufjs gives uint64 as a number or a Long; compare as numbers. */
function numberOf(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'number' ? value : Number(String(value));
}

function bytes(value: Uint8Array | null | undefined): Uint8Array | undefined {
  return value === null || value === undefined ? undefined : new Uint8Array(value);
}

// ── A media host on 127.0.0.1 ────────────────────────────────────────────────────────

const hosted = new Map<string, Uint8Array>();
let server: Server;
let origin = '';
let uploads = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    const blob = hosted.get(request.url ?? '');
    if (blob === undefined) response.writeHead(404).end();
    else response.writeHead(200, { 'content-length': blob.length }).end(Buffer.from(blob));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function host(blob: Uint8Array): { url: string; directPath: string } {
  uploads += 1;
  const directPath = `/v/t62/${uploads}.enc`;
  hosted.set(directPath, blob);
  return { url: `${origin}${directPath}`, directPath };
}

/** The `Message` field (camelCase name) that carries each Parley media type. */
const BAILEYS_FIELD: Record<MediaType, keyof proto.IMessage> = {
  image: 'imageMessage',
  sticker: 'stickerMessage',
  document: 'documentMessage',
  audio: 'audioMessage',
  ptt: 'audioMessage',
  video: 'videoMessage',
  gif: 'videoMessage',
  ptv: 'ptvMessage',
};

/** Extras each type has a field for. */
const EXTRAS: Record<MediaType, Partial<MediaPointer>> = {
  image: { caption: 'receipt', width: 640, height: 480 },
  sticker: { width: 512, height: 512 },
  document: { caption: 'invoice 42', fileName: 'invoice-42.pdf' },
  audio: { seconds: 42 },
  ptt: { seconds: 7 },
  video: { caption: 'unboxing', width: 1280, height: 720, seconds: 30 },
  gif: { width: 320, height: 240, seconds: 3 },
  ptv: { width: 400, height: 400, seconds: 12 },
};

describe('Parley → Baileys: proto.Message.decode reads Parley envelopes', () => {
  it('text, and a sender-key distribution message, with the Parley extension skipped', () => {
    const encoded = encodeContentEnvelope({
      text: 'Your order shipped 📦',
      bytes: Uint8Array.of(1, 2, 3),
      group: { groupId: 'parley-group-1' },
      senderKeyDistribution: { groupId: '120363041234567890@g.us', message: bytesOf(96, 5) },
    });
    const message = proto.Message.decode(encoded);
    expect(message.conversation).toBe('Your order shipped 📦');
    expect(message.senderKeyDistributionMessage?.groupId).toBe('120363041234567890@g.us');
    expect(bytes(message.senderKeyDistributionMessage?.axolotlSenderKeyDistributionMessage)).toEqual(
      bytesOf(96, 5),
    );
    // The extension field is invisible to a WhatsApp-family parser but does not break it.
    expect(Object.keys(proto.Message.toObject(message)).sort()).toEqual([
      'conversation',
      'senderKeyDistributionMessage',
    ]);
    expect(PARLEY_EXTENSION_FIELD).toBeGreaterThan(20_000);
  });

  it.each(MEDIA_TYPES)(
    'a %s pointer: every field where Baileys expects it, and the blob downloads through Baileys',
    async (type) => {
      const plaintext = bytesOf(70_000 + type.length, type.length);
      const { blob, media } = encryptMedia(plaintext, { type, crypto });
      const { url } = host(blob);
      const pointer = createMediaPointer({
        ...media,
        mimetype: 'application/x-test',
        url,
        mediaKeyTimestamp: 1_700_000_123,
        ...EXTRAS[type],
      });
      const message = proto.Message.decode(encodeContentEnvelope({ media: pointer }));
      const sub = message[BAILEYS_FIELD[type]] as Record<string, unknown> & {
        mediaKey?: Uint8Array | null;
        fileSha256?: Uint8Array | null;
        fileEncSha256?: Uint8Array | null;
      };
      expect(sub, BAILEYS_FIELD[type]).toBeTruthy();
      expect(sub.url).toBe(url);
      expect(sub.mimetype).toBe('application/x-test');
      expect(bytes(sub.mediaKey)).toEqual(media.mediaKey);
      expect(bytes(sub.fileSha256)).toEqual(media.fileSha256);
      expect(bytes(sub.fileEncSha256)).toEqual(media.fileEncSha256);
      expect(numberOf(sub.fileLength)).toBe(plaintext.length);
      expect(numberOf(sub.mediaKeyTimestamp)).toBe(1_700_000_123);
      for (const [name, value] of Object.entries(EXTRAS[type])) {
        expect(name === 'fileName' || name === 'caption' ? sub[name] : numberOf(sub[name]), name).toBe(value);
      }
      if (type === 'ptt') expect(sub.ptt).toBe(true);
      if (type === 'gif') expect(sub.gifPlayback).toBe(true);
      if (type === 'audio') expect(sub.ptt ?? false).toBe(false);
      if (type === 'video') expect(sub.gifPlayback ?? false).toBe(false);

      // Baileys downloads the blob from the decoded message itself and decrypts it.
      const stream = await downloadContentFromMessage(
        sub as { mediaKey: Uint8Array; url: string },
        type as BaileysMediaType,
      );
      const parts: Uint8Array[] = [];
      for await (const chunk of stream) parts.push(chunk as Uint8Array);
      expect(Buffer.from(concatBytes(...parts)).equals(plaintext)).toBe(true);
    },
  );
});

describe('Baileys → Parley: Parley reads the Message Baileys builds', () => {
  it('text from generateWAMessageContent, and a sender-key distribution message', async () => {
    const content = await generateWAMessageContent(
      { text: 'Where is my order?' },
      {
        upload: async () => {
          throw new Error('no upload for text');
        },
      },
    );
    const encoded = proto.Message.encode(content).finish();
    expect(decodeContentEnvelope(encoded).text).toBe('Where is my order?');

    const skdm = proto.Message.encode(
      proto.Message.fromObject({
        senderKeyDistributionMessage: {
          groupId: '120363041234567890@g.us',
          axolotlSenderKeyDistributionMessage: bytesOf(100, 9),
        },
        messageContextInfo: { messageSecret: bytesOf(32, 10) },
      }),
    ).finish();
    const decoded = decodeContentEnvelope(skdm);
    expect(decoded.senderKeyDistribution).toEqual({
      groupId: '120363041234567890@g.us',
      message: bytesOf(100, 9),
    });
    expect(decoded.unknownFields).toEqual([35]);
  });

  const cases: [MediaType, (buffer: Buffer) => AnyMediaMessageContent][] = [
    ['image', (b) => ({ image: b, caption: 'a photo', jpegThumbnail: '', width: 10, height: 20 })],
    ['sticker', (b) => ({ sticker: b, width: 64, height: 64 })],
    [
      'document',
      (b) => ({ document: b, mimetype: 'application/pdf', fileName: 'invoice.pdf', caption: 'see attached' }),
    ],
    ['audio', (b) => ({ audio: b, seconds: 3 })],
    ['ptt', (b) => ({ audio: b, ptt: true, seconds: 5, waveform: new Uint8Array(64) })],
    ['video', (b) => ({ video: b, caption: 'clip', jpegThumbnail: '', seconds: 2 })],
    ['gif', (b) => ({ video: b, gifPlayback: true, jpegThumbnail: '', seconds: 1 })],
    ['ptv', (b) => ({ video: b, ptv: true, jpegThumbnail: '', seconds: 4 })],
  ];

  it.each(cases)(
    'a %s message from prepareWAMessageMedia: Parley decodes the pointer and decrypts the blob',
    async (type, build) => {
      const plaintext = bytesOf(40_000 + type.length * 17, type.length + 1);
      const message = await prepareWAMessageMedia(build(Buffer.from(plaintext)), {
        upload: async (encFilePath) => {
          const { url, directPath } = host(new Uint8Array(await readFile(encFilePath)));
          return { mediaUrl: url, directPath };
        },
      });
      const decoded = decodeContentEnvelope(proto.Message.encode(message).finish());
      const pointer = decoded.media;
      expect(pointer?.type).toBe(type);
      if (pointer === undefined) return;
      expect(pointer.fileLength).toBe(plaintext.length);
      expect(pointer.directPath).toMatch(/^\/v\/t62\//);
      const blob = hosted.get(pointer.directPath!)!;
      expect(pointer.url).toBe(`${origin}${pointer.directPath}`);
      expect(Buffer.from(decryptMedia(blob, pointer, { crypto })).equals(plaintext)).toBe(true);
      if (type === 'document') {
        expect(pointer.fileName).toBe('invoice.pdf');
        expect(pointer.caption).toBe('see attached');
        expect(pointer.mimetype).toBe('application/pdf');
      }
      expect(pointer.mediaKeyTimestamp).toBeGreaterThan(1_600_000_000);
    },
  );
});
