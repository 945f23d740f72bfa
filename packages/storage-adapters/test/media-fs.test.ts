/**
 * What the conformance suite cannot see from outside: the filesystem blob store's layout, its
 * refusal of another layout version, crash leftovers (a writer SIGKILLed mid-put leaves no blob,
 * only a temporary that a later sweep removes), corrupt files, and reads that outlive a delete.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isParleyError } from '@parley/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../src/conformance.js';
import { createFsBlobStore } from '../src/media-fs.js';

const here = dirname(fileURLToPath(import.meta.url));
const repositoryRoot = join(here, '..', '..', '..');
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'parley-media-fs-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

describe('fs blob store on disk', () => {
  it('lays out one file per blob under blobs/<aa>/<sha256(id)>: header, then the bytes as given', async () => {
    const store = await createFsBlobStore({ root });
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    await store.put('business-1/media/abc', [data], { maxBytes: 1000, expiresAt: 1_800_000_000_000 });
    const hash = createHash('sha256').update('business-1/media/abc').digest('hex');
    expect(filesUnder(root)).toEqual([`blobs/${hash.slice(0, 2)}/${hash}`, 'parley-media-fs.json']);
    const file = readFileSync(join(root, 'blobs', hash.slice(0, 2), hash));
    expect(file.subarray(0, 4).toString()).toBe('PLYB');
    const idLength = file.readUInt16BE(6);
    expect(file.readDoubleBE(8)).toBe(1_800_000_000_000);
    expect(file.subarray(24, 24 + idLength).toString()).toBe('business-1/media/abc');
    expect(file.subarray(24 + idLength).equals(data)).toBe(true);
    expect(statSync(join(root, 'blobs', hash.slice(0, 2), hash)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(root, 'parley-media-fs.json'), 'utf8'))).toEqual({
      format: 'parley-media-fs',
      version: 1,
    });
  });

  it('checks its options up front: ERR_CONFIGURATION naming the field', async () => {
    for (const [options, field] of [
      [{ clock: Date.now }, 'clock'],
      [{ region: 7 }, 'region'],
      [{ staleTempMs: -1 }, 'staleTempMs'],
      [{ readChunkBytes: 0 }, 'readChunkBytes'],
    ] as const) {
      const error = await createFsBlobStore({ root, ...options } as never).catch((caught: unknown) => caught);
      expect(isParleyError(error, 'ERR_CONFIGURATION'), String(error)).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
  });

  it('refuses a directory laid out by another version, changing nothing', async () => {
    writeFileSync(join(root, 'parley-media-fs.json'), '{"format":"parley-media-fs","version":2}');
    const before = filesUnder(root);
    const error = await createFsBlobStore({ root }).catch((caught: unknown) => caught);
    expect(isParleyError(error, 'ERR_STORE_SCHEMA')).toBe(true);
    expect(filesUnder(root)).toEqual(before);
  });

  it('a writer killed mid-put leaves no blob; the stale temporary goes at the next sweep', async () => {
    const child = spawn(
      process.execPath,
      ['--conditions=parley-source', '--import', 'tsx', join(here, 'fixtures', 'blob-crash-writer.ts'), root],
      { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('writing')) resolve();
      });
      child.on('exit', () => reject(new Error(`writer exited early: ${stderr.slice(0, 300)}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const temps = readdirSync(join(root, 'tmp'));
    expect(temps).toHaveLength(1);
    expect(statSync(join(root, 'tmp', temps[0]!)).size).toBeGreaterThan(1024 * 1024);

    const clock = createFakeClock(Date.now());
    const store = await createFsBlobStore({ root, clock });
    expect(await store.head('crashed')).toBeUndefined();
    expect(await store.list()).toEqual([]);
    expect(await store.sweepExpired(clock.now())).toBe(0);
    expect(readdirSync(join(root, 'tmp'))).toHaveLength(1);
    clock.advance(60 * 60 * 1000 + 1);
    expect(await store.sweepExpired(clock.now())).toBe(0);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    await store.put('crashed', [Uint8Array.of(1)], { maxBytes: 1 });
    expect((await store.head('crashed'))?.length).toBe(1);
  });

  it('opening removes stale temporaries (by mtime against the clock), never fresh ones', async () => {
    await (await createFsBlobStore({ root })).close();
    writeFileSync(join(root, 'tmp', 'old.part'), 'x');
    writeFileSync(join(root, 'tmp', 'new.part'), 'y');
    const now = Date.now();
    utimesSync(join(root, 'tmp', 'old.part'), new Date(now - 2 * 3_600_000), new Date(now - 2 * 3_600_000));
    await createFsBlobStore({ root, clock: createFakeClock(now) });
    expect(readdirSync(join(root, 'tmp'))).toEqual(['new.part']);
  });

  it('a corrupt blob file is ERR_INVALID_RECORD on head and get, and skipped by list and sweep', async () => {
    const store = await createFsBlobStore({ root });
    await store.put('good', [Uint8Array.of(1, 2, 3)], { maxBytes: 10 });
    await store.put('bad', [Uint8Array.of(4, 5, 6)], { maxBytes: 10 });
    const hash = createHash('sha256').update('bad').digest('hex');
    const file = join(root, 'blobs', hash.slice(0, 2), hash);
    writeFileSync(file, readFileSync(file).subarray(0, 20));
    for (const call of [() => store.head('bad'), () => store.get('bad')]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(isParleyError(error, 'ERR_INVALID_RECORD')).toBe(true);
    }
    expect((await store.list()).map((b) => b.id)).toEqual(['good']);
    expect(await store.sweepExpired(Number.MAX_SAFE_INTEGER)).toBe(0);
  });

  it('a blob deleted or swept while it is read is still read whole', async () => {
    const store = await createFsBlobStore({ root, readChunkBytes: 1000 });
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
    await store.put('going', [data], { maxBytes: 10_000 });
    const opened = await store.get('going');
    expect(await store.delete('going')).toBe(true);
    expect(await store.get('going')).toBeUndefined();
    expect(Buffer.from(await readAll(opened!.stream)).equals(data)).toBe(true);
  });

  it('a filesystem failure is ERR_STORE_FAILURE and stores nothing', async () => {
    const store = await createFsBlobStore({ root });
    // tmp/ replaced by a plain file: creating the temporary fails (ENOTDIR), even for root.
    rmSync(join(root, 'tmp'), { recursive: true });
    writeFileSync(join(root, 'tmp'), '');
    const error = await store
      .put('x', [Uint8Array.of(1)], { maxBytes: 1 })
      .catch((caught: unknown) => caught);
    expect(isParleyError(error, 'ERR_STORE_FAILURE')).toBe(true);
    expect((error as { details: { errno: string } }).details.errno).toBe('ENOTDIR');
    expect(await store.head('x')).toBeUndefined();
    rmSync(join(root, 'tmp'));
  });
});
