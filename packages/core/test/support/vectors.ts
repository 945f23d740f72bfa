import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The shared vectors live beside the checkout (`../shared/vectors`), never inside it. */
export const VECTORS_DIR = fileURLToPath(new URL('../../../../../shared/vectors/', import.meta.url));

export function readVectorJson<T>(relativePath: string): T {
  return JSON.parse(readFileSync(VECTORS_DIR + relativePath, 'utf8')) as T;
}
