import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Known-answer vectors copied into the repository unmodified (provenance in `test/vectors/SOURCES.md`). */
export const VECTORS_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));

export function readVectorJson<T>(relativePath: string): T {
  return JSON.parse(readFileSync(VECTORS_DIR + relativePath, 'utf8')) as T;
}
