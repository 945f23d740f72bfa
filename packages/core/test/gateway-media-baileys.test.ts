/**
 * The gateway's media with a real WhatsApp-family client, baileys@7.0.0-rc14, on the person's
 * side of the Signal session (the session itself is the testing kit's; Baileys does not speak
 * it here). Parley → Baileys: the envelope the gateway sent, decrypted on the person's device, is
 * read by Baileys' own `proto.Message.decode`, and `downloadContentFromMessage` fetches the blob
 * from the media host (served on 127.0.0.1) and decrypts it. Baileys → Parley: a file Baileys
 * encrypts (`encryptedStream`) in a message Baileys' protobuf encodes reaches the business's
 * handler, which downloads it through the gateway, checked.
 */
import { createHash } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { downloadContentFromMessage, encryptedStream, proto } from 'baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { padContent, unpadContent } from '../src/content/padding.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createTestWorld, type TestWorld } from '../src/testing/test-world.js';
import { readAll } from './support/gateway-media-scenarios.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function photo(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

describe('gateway media with Baileys on the person’s side', () => {
  let world: TestWorld;
  let server: Server;
  let origin = '';

  beforeAll(async () => {
    world = await createTestWorld({
      crypto: createNodeCrypto(),
      gateway: { preKeys: { batchSize: 5, kyberBatchSize: 2, lowWaterMark: 1, kyberLowWaterMark: 1 } },
    });
    // The network's media host over HTTP, as Baileys fetches: the path is the blob's directPath.
    server = createServer((request, response) => {
      const blob = world.network.media.blob({ directPath: request.url ?? '' });
      if (!blob) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-length': blob.length }).end(Buffer.from(blob));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await world?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('Parley → Baileys: the envelope the gateway sent decodes in Baileys and its download decrypts the photo', async () => {
    const file = photo(150_000);
    const { mediaId } = await world.gateway.uploadMedia(world.business.id, file, {
      type: 'image',
      mimetype: 'image/jpeg',
      width: 300,
      height: 200,
    });
    await world.business.send(world.person.phoneNumber, { media: { mediaId, caption: 'your ticket' } });
    await world.gateway.idle();
    // The frame as the person's device gets it, decrypted with the device's own session.
    const [packet] = world.network.pending({ direction: 'to-person' });
    if (
      packet?.kind !== 'frame' ||
      packet.direction !== 'to-person' ||
      packet.frame.type === 8 ||
      packet.frame.type === 7
    )
      throw new Error('no frame to the person');
    const { plaintext } = await world.person
      .device(packet.frame.deviceId)
      .sessions.decrypt(
        { name: packet.frame.from, deviceId: 1 },
        { type: packet.frame.type, body: packet.frame.body },
      );
    const message = proto.Message.decode(unpadContent(plaintext));
    const image = message.imageMessage!;
    expect(image).toMatchObject({ mimetype: 'image/jpeg', caption: 'your ticket', width: 300, height: 200 });
    expect(Number(image.fileLength)).toBe(file.length);
    const stream = await downloadContentFromMessage(
      { mediaKey: image.mediaKey!, url: `${origin}${image.directPath}` },
      'image',
    );
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    const downloaded = Buffer.concat(parts);
    expect(sha256(downloaded)).toBe(sha256(file));
    // Baileys checks no hash; the pointer's are the file's and the blob's.
    expect(Buffer.from(image.fileSha256!).toString('hex')).toBe(sha256(file));
    expect(Buffer.from(image.fileEncSha256!).toString('hex')).toBe(
      sha256(world.network.media.blob({ directPath: image.directPath! })!),
    );
  });

  it('Baileys → Parley: a file Baileys encrypts, in a message Baileys encodes, reaches the handler and downloads checked', async () => {
    const file = photo(90_001);
    const made = await encryptedStream(Buffer.from(file), 'document');
    const blob = new Uint8Array(await readFile(made.encFilePath));
    await unlink(made.encFilePath);
    const location = world.network.media.put(blob, 'document');
    const envelope = proto.Message.encode({
      documentMessage: {
        url: location.url,
        directPath: location.directPath,
        mimetype: 'application/pdf',
        fileName: 'boarding-pass.pdf',
        mediaKey: made.mediaKey,
        fileSha256: made.fileSha256,
        fileEncSha256: made.fileEncSha256,
        fileLength: made.fileLength,
        caption: 'from Baileys',
      },
    }).finish();
    const number = world.business.number;
    const device = world.person.device(1);
    if (!(await device.sessions.hasSession({ name: number, deviceId: 1 }))) {
      await world.person.startSession(number, world.network.businessBundle(number));
    }
    const encrypted = await device.sessions.encrypt({ name: number, deviceId: 1 }, padContent(envelope));
    const outcome = await world.gateway.receiveFrame({
      frameId: 'baileys-document',
      to: number,
      from: world.person.phoneNumber,
      deviceId: 1,
      type: encrypted.type,
      body: encrypted.body,
    });
    expect(outcome.kind).toBe('accepted');
    await world.gateway.idle();
    const received = world.business.messages.at(-1)!;
    expect(received.media).toMatchObject({
      type: 'document',
      mimetype: 'application/pdf',
      fileName: 'boarding-pass.pdf',
      caption: 'from Baileys',
      fileLength: file.length,
    });
    const downloaded = await readAll(
      await world.gateway.downloadMedia(world.business.id, received.media!.mediaId),
    );
    expect(sha256(downloaded)).toBe(sha256(file));
  });
});
