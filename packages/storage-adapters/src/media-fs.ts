/**
 * Filesystem blob store for servers (one per gateway instance; a shared one comes with
 * PostgreSQL). Blobs are written whole or not at all, and a write is durable when `put`
 * resolves.
 *
 * Layout under `root`:
 *
 *   parley-media-fs.json     {"format":"parley-media-fs","version":1}; another version is refused
 *   blobs/<aa>/<sha256(id)>  one file per blob: header ‖ the blob's bytes exactly as put
 *   tmp/<random>.part        writes in progress; removed on failure, and by sweeps once stale
 *
 * `<aa>` is the first byte of SHA-256(id) in hex (256 directories, so none grows huge); the file
 * name is the whole hash, so ids never reach the filesystem (no path tricks, no length limits).
 * Header (24 bytes + id): "PLYB" | version 1 | flags (bit 0: has expiresAt) | id length u16 |
 * expiresAt float64 | blob length u64 | id (UTF-8). All big-endian.
 *
 * A put streams into a fresh temporary (mode 0600), rewrites the header with the final length,
 * fsyncs, then `link`s it to its final name — `link` fails if the name exists, which makes
 * write-once atomic across processes — unlinks the temporary and fsyncs the directory. A crash
 * leaves at most a stale temporary, never a partial blob. Readers keep their file open, so a
 * blob deleted or swept mid-read is still read whole.
 *
 * Only the bytes given to `put` are written: Parley gives it media blobs (ciphertext ‖ MAC), so
 * no plaintext reaches the disk, temporaries included. `list` and `sweepExpired` read every
 * header (O(blobs)); fine for one instance's retention window.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, ParleyError, systemClock } from '@parley/core';
import {
  assertBlobId,
  assertOptionalClock,
  assertOptionalString,
  type BlobInfo,
  type BlobStore,
  checkBlobListOptions,
  checkPutOptions,
  checkRange,
  checkSweepNow,
  closedError,
  configurationError,
  ExpiryClock,
  isLive,
  limitedBytes,
  pullStream,
} from '@parley/core/storage';

export interface FsBlobStoreOptions {
  /** Directory of this store (created if missing). One store per directory. */
  readonly root: string;
  readonly clock?: Clock;
  readonly region?: string;
  /** Temporaries older than this (by their mtime, against `clock`) are leftovers of a crash. Default 1 hour. */
  readonly staleTempMs?: number;
  /** Bytes per read when streaming a blob out. Default 64 KiB (as Node's file streams). */
  readonly readChunkBytes?: number;
}

export const FS_BLOB_LAYOUT_VERSION = 1;
const LAYOUT_FILE = 'parley-media-fs.json';
const MAGIC = [0x50, 0x4c, 0x59, 0x42]; // "PLYB"
const FIXED_HEADER = 24;
const FLAG_EXPIRES = 1;
const WRITE_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Header {
  readonly id: string;
  readonly expiresAt: number | undefined;
  readonly length: number;
  /** Where the blob's bytes start in the file. */
  readonly offset: number;
}

function encodeHeader(id: string, expiresAt: number | undefined, length: number): Uint8Array {
  const idBytes = encoder.encode(id);
  const out = new Uint8Array(FIXED_HEADER + idBytes.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = FS_BLOB_LAYOUT_VERSION;
  out[5] = expiresAt === undefined ? 0 : FLAG_EXPIRES;
  view.setUint16(6, idBytes.length);
  view.setFloat64(8, expiresAt ?? 0);
  view.setUint32(16, Math.floor(length / 0x1_0000_0000));
  view.setUint32(20, length >>> 0);
  out.set(idBytes, FIXED_HEADER);
  return out;
}

/** The header of a blob file, or undefined when the file is not one (corrupt, foreign). */
function decodeHeader(bytes: Uint8Array, fileSize: number): Header | undefined {
  if (bytes.length < FIXED_HEADER || MAGIC.some((byte, i) => bytes[i] !== byte)) return undefined;
  if (bytes[4] !== FS_BLOB_LAYOUT_VERSION) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idLength = view.getUint16(6);
  if (bytes.length < FIXED_HEADER + idLength) return undefined;
  const length = view.getUint32(16) * 0x1_0000_0000 + view.getUint32(20);
  const offset = FIXED_HEADER + idLength;
  if (offset + length !== fileSize) return undefined;
  return {
    id: decoder.decode(bytes.subarray(FIXED_HEADER, offset)),
    expiresAt: (bytes[5]! & FLAG_EXPIRES) !== 0 ? view.getFloat64(8) : undefined,
    length,
    offset,
  };
}

function failure(error: unknown, action: string): ParleyError {
  if (error instanceof ParleyError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? code : 'unknown';
  const advice =
    errno === 'ENOSPC' || errno === 'EDQUOT'
      ? 'the disk is full; sweep expired blobs or free space'
      : errno === 'EACCES' || errno === 'EPERM'
        ? 'the process may not write the store directory; check its permissions'
        : 'retry; if it keeps failing, check the store directory';
  return new ParleyError(
    'ERR_STORE_FAILURE',
    `filesystem blob store failed while ${action} (${errno}); ${advice}`,
    { store: 'fs blob', action, errno },
    { cause: error },
  );
}

function isMissing(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ENOENT';
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function createFsBlobStore(options: FsBlobStoreOptions): Promise<BlobStore> {
  if (
    options === null ||
    typeof options !== 'object' ||
    typeof options.root !== 'string' ||
    options.root === ''
  ) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"root" expected a directory path', { field: 'root' });
  }
  assertOptionalClock(options.clock, 'clock');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  for (const field of ['staleTempMs', 'readChunkBytes'] as const) {
    const value = options[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw configurationError(field, 'a positive integer', value);
    }
  }
  const root = options.root;
  const blobsDir = join(root, 'blobs');
  const tmpDir = join(root, 'tmp');
  const clock = options.clock ?? systemClock;
  const expiry = new ExpiryClock(clock);
  const staleTempMs = options.staleTempMs ?? 60 * 60 * 1000;
  const readChunk = options.readChunkBytes ?? 64 * 1024;
  let closed = false;
  /** This instance's writes in progress: never taken for crash leftovers, however slow. */
  const writing = new Set<string>();

  try {
    await mkdir(blobsDir, { recursive: true, mode: 0o700 });
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    await checkLayout(root);
  } catch (error) {
    throw failure(error, 'opening');
  }

  function assertOpen(): void {
    if (closed) throw closedError('fs blob', 'open the directory again with createFsBlobStore to continue');
  }

  function pathOf(id: string): { dir: string; file: string } {
    const hash = createHash('sha256').update(id).digest('hex');
    const dir = join(blobsDir, hash.slice(0, 2));
    return { dir, file: join(dir, hash) };
  }

  /** The header of the blob file at `file` (any expiry), or undefined if there is none. */
  async function readHeaderAt(file: string): Promise<Header | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      return await headerOf(handle);
    } finally {
      await handle.close();
    }
  }

  async function headerOf(handle: FileHandle): Promise<Header | undefined> {
    const { size } = await handle.stat();
    const head = new Uint8Array(Math.min(size, FIXED_HEADER + 1024));
    await handle.read(head, 0, head.length, 0);
    return decodeHeader(head, size);
  }

  function corrupt(): ParleyError {
    return new ParleyError(
      'ERR_INVALID_RECORD',
      'a blob file is corrupt (bad header or length); delete that blob so it can be written again',
      { store: 'fs blob' },
    );
  }

  /** Every blob file with its header (corrupt or foreign files are skipped). */
  async function* allBlobs(): AsyncGenerator<{ file: string; header: Header }> {
    for (const shard of (await readdir(blobsDir)).sort()) {
      let names: string[];
      try {
        names = await readdir(join(blobsDir, shard));
      } catch (error) {
        if (isMissing(error) || (error as { code?: string }).code === 'ENOTDIR') continue;
        throw error;
      }
      for (const name of names) {
        const file = join(blobsDir, shard, name);
        const header = await readHeaderAt(file);
        if (header !== undefined) yield { file, header };
      }
    }
  }

  async function removeStaleTemps(now: number): Promise<void> {
    for (const name of await readdir(tmpDir)) {
      const file = join(tmpDir, name);
      if (writing.has(file)) continue;
      try {
        if ((await stat(file)).mtimeMs <= now - staleTempMs) await unlink(file);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
  }

  const info = (header: Header): BlobInfo => ({
    id: header.id,
    length: header.length,
    expiresAt: header.expiresAt,
  });

  await removeStaleTemps(clock.now()).catch((error: unknown) => {
    throw failure(error, 'removing stale temporaries');
  });

  return {
    kind: 'fs',
    region: options.region,

    async put(id, source, putOptions) {
      assertOpen();
      assertBlobId(id);
      const checked = checkPutOptions(putOptions);
      const { dir, file } = pathOf(id);
      const existing = await readHeaderAt(file).catch((error: unknown) => {
        throw failure(error, 'reading');
      });
      if (existing !== undefined && isLive(existing.expiresAt, expiry.now())) throw conflict();

      const temp = join(tmpDir, `${randomBytes(16).toString('hex')}.part`);
      let handle: FileHandle | undefined;
      let linked = false;
      writing.add(temp);
      try {
        handle = await open(temp, 'wx', 0o600).catch((error: unknown) => {
          throw failure(error, 'creating a temporary');
        });
        const placeholder = encodeHeader(id, checked.expiresAt, 0);
        let position = placeholder.length;
        await handle.write(placeholder, 0, placeholder.length, 0);
        // Small chunks (a slow network) are gathered in one reused buffer into writes of
        // WRITE_BYTES; large ones are written as they come. No allocation per chunk: every
        // buffer a stream allocates is garbage the GC must catch up with (see README, memory).
        const gather = new Uint8Array(WRITE_BYTES);
        let gathered = 0;
        const write = async (bytes: Uint8Array) => {
          assertOpen();
          await handle!.write(bytes, 0, bytes.length, position).catch((error: unknown) => {
            throw failure(error, 'writing');
          });
          position += bytes.length;
        };
        for await (const chunk of limitedBytes(source, checked)) {
          if (gathered + chunk.length > WRITE_BYTES && gathered > 0) {
            await write(gather.subarray(0, gathered));
            gathered = 0;
          }
          if (chunk.length >= WRITE_BYTES) {
            await write(chunk);
          } else {
            gather.set(chunk, gathered);
            gathered += chunk.length;
          }
        }
        if (gathered > 0) await write(gather.subarray(0, gathered));
        const header = encodeHeader(id, checked.expiresAt, position - placeholder.length);
        try {
          await handle.write(header, 0, header.length, 0);
          await handle.sync();
          await handle.close();
          handle = undefined;
          await mkdir(dir, { recursive: true, mode: 0o700 });
        } catch (error) {
          throw failure(error, 'writing');
        }
        for (let attempt = 0; !linked; attempt++) {
          try {
            await link(temp, file);
            linked = true;
          } catch (error) {
            if ((error as { code?: unknown }).code !== 'EEXIST' || attempt > 0) {
              throw (error as { code?: unknown }).code === 'EEXIST' ? conflict() : failure(error, 'storing');
            }
            // The name is taken: by a live blob (another put won), or by an expired one not
            // swept yet, which this put replaces.
            const current = await readHeaderAt(file);
            if (current !== undefined && isLive(current.expiresAt, expiry.now())) throw conflict();
            await unlink(file).catch((unlinkError: unknown) => {
              if (!isMissing(unlinkError)) throw failure(unlinkError, 'replacing an expired blob');
            });
          }
        }
        await unlink(temp).catch(() => undefined);
        await syncDirectory(dir).catch((error: unknown) => {
          throw failure(error, 'syncing');
        });
        return { id, length: position - placeholder.length, expiresAt: checked.expiresAt };
      } finally {
        await handle?.close().catch(() => undefined);
        if (!linked) await unlink(temp).catch(() => undefined);
        writing.delete(temp);
      }
    },

    async head(id) {
      assertOpen();
      assertBlobId(id);
      const header = await readHeaderAt(pathOf(id).file).catch((error: unknown) => {
        throw failure(error, 'reading');
      });
      if (header === undefined) {
        // A file that exists but is not a blob is corrupt, not absent.
        const exists = await stat(pathOf(id).file).then(
          () => true,
          () => false,
        );
        if (exists) throw corrupt();
        return undefined;
      }
      if (header.id !== id) throw corrupt();
      return isLive(header.expiresAt, expiry.now()) ? info(header) : undefined;
    },

    async get(id, range) {
      assertOpen();
      assertBlobId(id);
      let handle: FileHandle;
      try {
        handle = await open(pathOf(id).file, 'r');
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw failure(error, 'reading');
      }
      let header: Header | undefined;
      let bounds: { start: number; end: number };
      try {
        header = await headerOf(handle);
        if (header === undefined || header.id !== id) throw corrupt();
        if (!isLive(header.expiresAt, expiry.now())) {
          await handle.close();
          return undefined;
        }
        bounds = checkRange(range, header.length);
      } catch (error) {
        await handle.close();
        throw failure(error, 'reading');
      }
      let position = header.offset + bounds.start;
      const stop = header.offset + bounds.end;
      const stream = pullStream(
        async () => {
          if (position >= stop) return undefined;
          const buffer = new Uint8Array(Math.min(readChunk, stop - position));
          const { bytesRead } = await handle
            .read(buffer, 0, buffer.length, position)
            .catch((error: unknown) => {
              throw failure(error, 'reading');
            });
          if (bytesRead === 0) throw corrupt();
          position += bytesRead;
          return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
        },
        () => handle.close(),
      );
      return { info: info(header), stream };
    },

    async delete(id) {
      assertOpen();
      assertBlobId(id);
      const { dir, file } = pathOf(id);
      try {
        await unlink(file);
      } catch (error) {
        if (isMissing(error)) return false;
        throw failure(error, 'deleting');
      }
      await syncDirectory(dir).catch((error: unknown) => {
        throw failure(error, 'syncing');
      });
      return true;
    },

    async list(listOptions) {
      assertOpen();
      const { prefix, limit } = checkBlobListOptions(listOptions);
      const now = expiry.now();
      const found: BlobInfo[] = [];
      try {
        for await (const { header } of allBlobs()) {
          if (header.id.startsWith(prefix) && isLive(header.expiresAt, now)) found.push(info(header));
        }
      } catch (error) {
        throw failure(error, 'listing');
      }
      found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return found.slice(0, limit);
    },

    async sweepExpired(now) {
      assertOpen();
      checkSweepNow(now);
      const bound = expiry.sweepBound(now);
      let removed = 0;
      try {
        const touched = new Set<string>();
        for await (const { file, header } of allBlobs()) {
          if (isLive(header.expiresAt, bound)) continue;
          try {
            await unlink(file);
            removed += 1;
            touched.add(join(file, '..'));
          } catch (error) {
            if (!isMissing(error)) throw error;
          }
        }
        for (const dir of touched) await syncDirectory(dir);
        await removeStaleTemps(Math.max(clock.now(), now));
      } catch (error) {
        throw failure(error, 'sweeping');
      }
      return removed;
    },

    async close() {
      closed = true;
    },
  };
}

function conflict(): ParleyError {
  return new ParleyError('ERR_STORE_CONFLICT', 'a blob with this id exists; blobs are written once', {
    store: 'fs blob',
  });
}

/** Creates the layout marker, or refuses a directory laid out by another version. */
async function checkLayout(root: string): Promise<void> {
  const path = join(root, LAYOUT_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  if (text === undefined) {
    const temp = `${path}.${randomBytes(8).toString('hex')}.tmp`;
    await writeFile(
      temp,
      `${JSON.stringify({ format: 'parley-media-fs', version: FS_BLOB_LAYOUT_VERSION })}\n`,
      {
        mode: 0o600,
      },
    );
    await rename(temp, path);
    await syncDirectory(root);
    return;
  }
  let layout: { format?: unknown; version?: unknown } | undefined;
  try {
    layout = JSON.parse(text) as { format?: unknown; version?: unknown };
  } catch {
    layout = undefined;
  }
  if (layout?.format !== 'parley-media-fs' || layout.version !== FS_BLOB_LAYOUT_VERSION) {
    throw new ParleyError(
      'ERR_STORE_SCHEMA',
      `"${LAYOUT_FILE}" describes another layout than version ${FS_BLOB_LAYOUT_VERSION}; ` +
        'upgrade @parley/storage-adapters or choose another root (nothing was changed)',
      { store: 'fs blob', supported: FS_BLOB_LAYOUT_VERSION },
    );
  }
}
