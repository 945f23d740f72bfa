/**
 * Writes the cloud API's OpenAPI document to `cloud-api/openapi.json` (then lets biome format
 * it, as `pnpm lint` expects):
 *
 *   pnpm --filter @parley/examples openapi
 *
 * A test checks that the file in the repository holds what this writes.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cloudApiDocument } from './server.js';

export const OPENAPI_FILE = fileURLToPath(new URL('./openapi.json', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OPENAPI_FILE, `${JSON.stringify(cloudApiDocument(), null, 2)}\n`);
  execFileSync('pnpm', ['exec', 'biome', 'format', '--write', OPENAPI_FILE], { stdio: 'ignore' });
  console.log(`wrote ${OPENAPI_FILE}`);
}
