/**
 * Media encryption and decryption MB/s beside the node:crypto floor for the same work.
 *
 * Floor: the format's work in one pass with bare node:crypto objects over chunks in memory —
 * AES-256-CBC, HMAC-SHA256 over IV ‖ ciphertext, SHA-256 of the plaintext and SHA-256 of the
 * blob — no streams, no checks. Parley: the public streaming API (`encryptMediaStream`,
 * `decryptMediaStream`) with the node provider, Web Streams in and out; decryption is Parley's
 * two passes (verify, then decrypt with the segment binding), every check included; a file of
 * at most 2 MiB takes one pass (its checked plaintext is held), so a 1 MiB row shows that path.
 * Same 256 KiB chunks from memory for both; interleaved rounds, medians. Measures only.
 *
 * Time is the process's CPU time (user + system), not wall time: everything measured runs on
 * the main thread, and on a machine shared with other work wall time measures the scheduler.
 * Both sides are timed the same way.
 *
 *   run from `pnpm bench` (after the protocol rows), or alone:
 *   tsx --conditions=parley-source bench/media.ts [--quick]
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { decryptMediaStream, type EncryptedMedia, encryptMediaStream } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { median } from './output.js';

export interface MediaBenchConfig {
  readonly fileBytes: number;
  readonly rounds: number;
  /** Repetitions of the 1 MiB file per sample (it is too quick to time once). */
  readonly smallRepeats: number;
}

export const MEDIA_FULL: MediaBenchConfig = { fileBytes: 64 * 1024 * 1024, rounds: 7, smallRepeats: 32 };
export const MEDIA_QUICK: MediaBenchConfig = { fileBytes: 8 * 1024 * 1024, rounds: 2, smallRepeats: 4 };
const SMALL_FILE = 1024 * 1024;

export interface MediaBenchResult {
  readonly fileBytes: number;
  readonly rounds: number;
  /** Medians, MB/s (10^6 bytes of plaintext per second). */
  readonly encrypt: MediaRow;
  readonly decrypt: MediaRow;
  /** A 1 MiB file: one pass. */
  readonly decryptSmall: MediaRow;
}

export interface MediaRow {
  readonly parley: number;
  readonly floor: number;
  readonly ratio: number;
}

const CHUNK = 256 * 1024;
const crypto = createNodeCrypto();

function chunksOf(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += CHUNK) out.push(data.subarray(i, i + CHUNK));
  return out;
}

function keysOf(mediaKey: Uint8Array) {
  const expanded = new Uint8Array(
    hkdfSync('sha256', mediaKey, new Uint8Array(32), 'WhatsApp Video Keys', 112),
  );
  return {
    iv: expanded.subarray(0, 16),
    cipherKey: expanded.subarray(16, 48),
    macKey: expanded.subarray(48, 80),
  };
}

/** The floor: one pass, bare node:crypto, all four primitives over the same bytes. */
function floorEncrypt(plain: readonly Uint8Array[], mediaKey: Uint8Array): number {
  const { iv, cipherKey, macKey } = keysOf(mediaKey);
  const cipher = createCipheriv('aes-256-cbc', cipherKey, iv);
  const mac = createHmac('sha256', macKey).update(iv);
  const plainHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let length = 0;
  for (const chunk of plain) {
    plainHash.update(chunk);
    const out = cipher.update(chunk);
    mac.update(out);
    blobHash.update(out);
    length += out.length;
  }
  const last = cipher.final();
  mac.update(last);
  blobHash.update(last);
  blobHash.update(mac.digest().subarray(0, 10));
  plainHash.digest();
  blobHash.digest();
  return length + last.length + 10;
}

function floorDecrypt(blob: readonly Uint8Array[], blobLength: number, mediaKey: Uint8Array): number {
  const { iv, cipherKey, macKey } = keysOf(mediaKey);
  const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv);
  const mac = createHmac('sha256', macKey).update(iv);
  const plainHash = createHash('sha256');
  const blobHash = createHash('sha256');
  const macOffset = blobLength - 10;
  let offset = 0;
  let length = 0;
  for (const chunk of blob) {
    blobHash.update(chunk);
    const cipherPart = chunk.subarray(0, Math.max(0, Math.min(chunk.length, macOffset - offset)));
    offset += chunk.length;
    mac.update(cipherPart);
    const out = decipher.update(cipherPart);
    plainHash.update(out);
    length += out.length;
  }
  const last = decipher.final();
  plainHash.update(last);
  mac.digest();
  plainHash.digest();
  blobHash.digest();
  return length + last.length;
}

async function drain(stream: ReadableStream<Uint8Array>, keep?: Uint8Array[]): Promise<number> {
  const reader = stream.getReader();
  let length = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) return length;
    length += next.value.length;
    keep?.push(next.value);
  }
}

async function parleyEncrypt(plain: readonly Uint8Array[], keep?: Uint8Array[]) {
  const { blob, media } = encryptMediaStream(plain, { type: 'video', crypto });
  const length = await drain(blob, keep);
  return { length, media: await media };
}

async function parleyDecrypt(blob: readonly Uint8Array[], media: EncryptedMedia): Promise<number> {
  return drain(decryptMediaStream(() => blob, media, { crypto }));
}

/** CPU seconds (user + system) of this process spent in `run`. */
async function timed(run: () => unknown): Promise<number> {
  const started = process.cpuUsage();
  await run();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1e6;
}

export async function runMediaBench(
  config: MediaBenchConfig,
  gc: () => void = () => undefined,
): Promise<MediaBenchResult> {
  const plain = chunksOf(new Uint8Array(randomBytes(config.fileBytes)));
  const blobParts: Uint8Array[] = [];
  const { length: blobLength, media } = await parleyEncrypt(plain, blobParts);
  // Re-cut the blob into the same chunk size the floor reads (streams hand out other sizes).
  const joined = new Uint8Array(blobLength);
  let at = 0;
  for (const part of blobParts) {
    joined.set(part, at);
    at += part.length;
  }
  const blob = chunksOf(joined);
  const mediaKey = media.mediaKey;
  if (floorDecrypt(blob, blobLength, mediaKey) !== config.fileBytes)
    throw new Error('floor decrypt mismatch');
  if ((await parleyDecrypt(blob, media)) !== config.fileBytes) throw new Error('parley decrypt mismatch');

  const small = chunksOf(new Uint8Array(randomBytes(SMALL_FILE)));
  const smallParts: Uint8Array[] = [];
  const { length: smallLength, media: smallMedia } = await parleyEncrypt(small, smallParts);
  const smallJoined = new Uint8Array(smallLength);
  let smallAt = 0;
  for (const part of smallParts) {
    smallJoined.set(part, smallAt);
    smallAt += part.length;
  }
  const smallBlob = chunksOf(smallJoined);
  const repeat = async (run: () => unknown) => {
    for (let i = 0; i < config.smallRepeats; i++) await run();
  };

  type Sample =
    | 'parleyEncrypt'
    | 'floorEncrypt'
    | 'parleyDecrypt'
    | 'floorDecrypt'
    | 'parleySmall'
    | 'floorSmall';
  const samples: Record<Sample, number[]> = {
    parleyEncrypt: [],
    floorEncrypt: [],
    parleyDecrypt: [],
    floorDecrypt: [],
    parleySmall: [],
    floorSmall: [],
  };
  const mb = config.fileBytes / 1e6;
  const smallMb = (SMALL_FILE * config.smallRepeats) / 1e6;
  for (let round = 0; round <= config.rounds; round++) {
    const warmup = round === 0;
    // Alternate the order so neither side always runs on a warmer cache.
    const steps: [Sample, number, () => unknown][] = [
      ['floorEncrypt', mb, () => floorEncrypt(plain, mediaKey)],
      ['parleyEncrypt', mb, () => parleyEncrypt(plain)],
      ['floorDecrypt', mb, () => floorDecrypt(blob, blobLength, mediaKey)],
      ['parleyDecrypt', mb, () => parleyDecrypt(blob, media)],
      ['floorSmall', smallMb, () => repeat(() => floorDecrypt(smallBlob, smallLength, smallMedia.mediaKey))],
      ['parleySmall', smallMb, () => repeat(() => parleyDecrypt(smallBlob, smallMedia))],
    ];
    for (const [name, megabytes, run] of round % 2 === 0 ? steps : steps.reverse()) {
      gc();
      const seconds = await timed(run);
      if (!warmup) samples[name].push(megabytes / seconds);
    }
  }
  const row = (parley: number[], floor: number[]): MediaRow => {
    const p = median(parley) ?? Number.NaN;
    const f = median(floor) ?? Number.NaN;
    return { parley: p, floor: f, ratio: p / f };
  };
  return {
    fileBytes: config.fileBytes,
    rounds: config.rounds,
    encrypt: row(samples.parleyEncrypt, samples.floorEncrypt),
    decrypt: row(samples.parleyDecrypt, samples.floorDecrypt),
    decryptSmall: row(samples.parleySmall, samples.floorSmall),
  };
}

export function mediaBenchLines(result: MediaBenchResult): string[] {
  const row = (label: string, r: MediaRow) =>
    `${label.padEnd(26)}${r.parley.toFixed(0).padStart(10)}${r.floor.toFixed(0).padStart(14)}${`${(r.ratio * 100).toFixed(0)} %`.padStart(12)}`;
  return [
    `Media (${(result.fileBytes / 1024 / 1024).toFixed(0)} MiB file in 256 KiB chunks, ${result.rounds} rounds, node provider, MB/s of plaintext per CPU second)`,
    `${'workload'.padEnd(26)}${'Parley'.padStart(10)}${'node floor'.padStart(14)}${'of floor'.padStart(12)}`,
    row('encrypt (streamed)', result.encrypt),
    row('decrypt (2 passes)', result.decrypt),
    row('decrypt 1 MiB (1 pass)', result.decryptSmall),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = process.argv.includes('--quick') ? MEDIA_QUICK : MEDIA_FULL;
  for (const line of mediaBenchLines(await runMediaBench(config))) process.stdout.write(`${line}\n`);
}
