import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runBlobStoreConformance } from '../src/media-conformance.js';
import { createFsBlobStore } from '../src/media-fs.js';

const base = mkdtempSync(join(tmpdir(), 'parley-media-fs-'));
let counter = 0;
let root = '';

runBlobStoreConformance('fs blob store', {
  open: async (clock) => {
    counter += 1;
    root = join(base, String(counter));
    return createFsBlobStore({ root, clock, readChunkBytes: 100_000 });
  },
  reopen: async (clock) => createFsBlobStore({ root, clock }),
  cleanup: async () => rmSync(root, { recursive: true, force: true }),
});

afterAll(() => rmSync(base, { recursive: true, force: true }));
