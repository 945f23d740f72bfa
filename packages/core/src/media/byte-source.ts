/**
 * Where media bytes come from: a Web `ReadableStream`, any async iterable (a Node `Readable`
 * is one, so the core reads Node streams without importing `node:*`), or a plain iterable.
 */
import { isBytes } from '../crypto/guards.js';
import { ParleyError } from '../errors.js';

export type MediaByteSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Opens the same bytes again on each call: what two-pass decryption needs (a blob store get). */
export type MediaSourceOpener = () => MediaByteSource | Promise<MediaByteSource>;

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof (value as ReadableStream | null)?.getReader === 'function';
}

function notBytes(field: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected Uint8Array chunks`, { field });
}

/**
 * The source's chunks, checked to be bytes, empty ones skipped. Stopping early (a `return` or
 * a throw in the consumer) cancels the source.
 */
export async function* readBytes(source: MediaByteSource, field = 'source'): AsyncGenerator<Uint8Array> {
  if (isReadableStream(source)) {
    const reader = source.getReader();
    let done = false;
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) {
          done = true;
          return;
        }
        if (!isBytes(next.value)) throw notBytes(field);
        if (next.value.length > 0) yield next.value;
      }
    } finally {
      if (!done) await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  }
  if (
    source === null ||
    typeof source !== 'object' ||
    (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function' &&
      typeof (source as Iterable<Uint8Array>)[Symbol.iterator] !== 'function')
  ) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" expected a ReadableStream or an iterable of bytes`,
      {
        field,
      },
    );
  }
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    if (!isBytes(chunk)) throw notBytes(field);
    if (chunk.length > 0) yield chunk;
  }
}

/** A pull-driven Web stream over an async generator: nothing is read before it is asked for. */
export function generatorStream(generator: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await generator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await generator.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
