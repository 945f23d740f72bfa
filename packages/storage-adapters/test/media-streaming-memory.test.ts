/**
 * Constant memory: a 200 MB file goes through media encryption, the filesystem blob store and
 * two-pass decryption (Node streams in and out, Web streams inside the store) in a child
 * process, measured there so that nothing else in the test runner counts.
 *
 * What is asserted: the peak RSS after the 200 MB file exceeds the peak after a 16 MB warm-up
 * of the same path by less than 32 MB — memory does not grow with the file. The baseline is the
 * warm-up's peak, not the idle process, because Node 20 lets about 32 MB of dead ArrayBuffers
 * pile up in the young generation before it collects them (V8 scavenges on 2 × its 16 MB
 * semi-space of young backing stores; measured: a bare `cipher.update` loop over 64 KiB chunks
 * peaks 30–38 MB above idle). Any streaming code that allocates its chunks reaches that level
 * within the first 32 MB of any file, warm-up included; the peak over idle is printed as well.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repositoryRoot = join(here, '..', '..', '..');
const MB = 1024 * 1024;
let root: string | undefined;

afterEach(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

interface ChildResult {
  readonly same: boolean;
  readonly idleRss: number;
  readonly warmPeak: number;
  readonly largePeak: number;
  readonly seconds: number;
}

function runChild(warm: number, size: number): Promise<ChildResult> {
  root = mkdtempSync(join(tmpdir(), 'parley-media-rss-'));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--conditions=parley-source',
        '--import',
        'tsx',
        join(here, 'fixtures', 'media-stream-child.ts'),
        root!,
        String(warm),
        String(size),
      ],
      { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last));
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

it('a 200 MB file is encrypted, stored, verified and decrypted with peak RSS growing by under 32 MB', async () => {
  const result = await runChild(16 * MB, 200 * MB);
  const growth = result.largePeak - result.warmPeak;
  // Printed for the report: the measured figures, not only the bound.
  console.info(
    `media 200 MB round trip in ${result.seconds.toFixed(1)} s: peak RSS ${(result.largePeak / MB).toFixed(1)} MB, ` +
      `${(growth / MB).toFixed(1)} MB above the 16 MB warm-up's peak, ` +
      `${((result.largePeak - result.idleRss) / MB).toFixed(1)} MB above the idle process`,
  );
  expect(result.same).toBe(true);
  expect(growth).toBeLessThan(32 * MB);
});
