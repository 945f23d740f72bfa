import { writeSync } from 'node:fs';

/**
 * The crash test's wire between the parent (network, people, ledger) and the gateway child:
 * one JSON object per line, bytes as `{"$bytes": base64}`. The child writes with `writeSync`
 * on its stdout pipe, so a line written before `SIGKILL` is never lost: what the child said
 * before it died is exactly what the parent knows.
 */
export type Line =
  /** The child is up; what its gateway offers. */
  | { readonly t: 'ready'; readonly capabilities: { readonly status: boolean } }
  /** Parent → child request, and the child's response. */
  | {
      readonly t: 'req';
      readonly id: number;
      readonly op: string;
      readonly now: number;
      readonly args: unknown;
    }
  | {
      readonly t: 'res';
      readonly id: number;
      readonly ok: boolean;
      readonly value?: unknown;
      readonly error?: ErrorJson;
    }
  /** Child → parent request (transport, directory, the business's handler), and the answer. */
  | { readonly t: 'creq'; readonly id: number; readonly op: string; readonly args: unknown }
  | {
      readonly t: 'cres';
      readonly id: number;
      readonly ok: boolean;
      readonly value?: unknown;
      readonly error?: ErrorJson;
    }
  /** A gateway event (status, dropped, identity change), as the business's event handler got it. */
  | { readonly t: 'event'; readonly event: Record<string, unknown> }
  /** A background error the gateway reported. */
  | { readonly t: 'error'; readonly error: ErrorJson }
  /** The child is about to kill itself inside a commit. */
  | {
      readonly t: 'crash';
      readonly commit: number;
      readonly mode: string;
      readonly during: string;
      readonly writes: number;
    };

export interface ErrorJson {
  readonly code?: string;
  readonly name: string;
  readonly message: string;
}

export function errorJson(error: unknown): ErrorJson {
  const code = (error as { code?: unknown })?.code;
  return {
    code: typeof code === 'string' ? code : undefined,
    name: error instanceof Error ? error.name : typeof error,
    message: error instanceof Error ? error.message : String(error),
  };
}

export function encodeLine(line: Line): string {
  return `${JSON.stringify(line, (_key, value) =>
    value instanceof Uint8Array ? { $bytes: Buffer.from(value).toString('base64') } : value,
  )}\n`;
}

export function decodeLine(text: string): Line {
  return JSON.parse(text, (_key, value) =>
    value && typeof value === 'object' && typeof value.$bytes === 'string'
      ? new Uint8Array(Buffer.from(value.$bytes, 'base64'))
      : value,
  ) as Line;
}

/** Synchronous write to a pipe: on Linux it has left the process when this returns. */
export function writeLineSync(fd: number, line: Line): void {
  const bytes = Buffer.from(encodeLine(line));
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      // A full non-blocking pipe: the parent is reading; try again.
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
    }
  }
}

/** Splits a stream's chunks into lines. */
export function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let buffered = '';
  return (chunk) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const part of parts) if (part.length > 0) onLine(part);
  };
}
