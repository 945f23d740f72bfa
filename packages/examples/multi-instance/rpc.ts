/**
 * Calls between the harness (the network, the directory, the business's driver) and the gateway
 * processes, over Node's IPC channel with the "advanced" serialization (structured clone, so
 * frames travel as Uint8Array without base64). Both sides serve and call.
 *
 * Every call has a deadline, and a peer that goes away (a killed process) fails every call still
 * waiting on it at once: nothing in the harness can wait forever on a dead instance.
 */
import { ERROR_CODES, type ErrorCode, isParleyError, ParleyError } from '@parley/core';

export interface CallMessage {
  readonly kind: 'call';
  readonly id: number;
  readonly op: string;
  readonly args: unknown;
}

export interface ReplyMessage {
  readonly kind: 'reply';
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly code?: string;
  readonly message?: string;
}

export type WireMessage = CallMessage | ReplyMessage;

/** What a peer needs of the channel: post a message, hear messages. */
export interface MessagePort {
  post(message: WireMessage): void;
  listen(listener: (message: WireMessage) => void): void;
}

export type Handler = (args: never) => unknown;

/** Default deadline of a call: far past any healthy answer, short enough to end a stuck run. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class RpcPeer {
  private readonly handlers = new Map<string, (args: unknown) => unknown>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private gone: string | undefined;

  constructor(private readonly port: MessagePort) {
    port.listen((message) => this.receive(message));
  }

  serve<A, R>(op: string, handler: (args: A) => R | Promise<R>): void {
    this.handlers.set(op, handler as (args: unknown) => unknown);
  }

  call<R>(op: string, args: unknown = null, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<R> {
    if (this.gone !== undefined) return Promise.reject(linkFailure(op, this.gone));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(linkFailure(op, 'timeout'));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      try {
        this.port.post({ kind: 'call', id, op, args });
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(linkFailure(op, 'unreachable'));
      }
    });
  }

  /** The other side is gone: every waiting call fails now, and later calls fail at once. */
  fail(reason: string): void {
    this.gone ??= reason;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(linkFailure('call', reason));
      this.pending.delete(id);
    }
  }

  get waiting(): number {
    return this.pending.size;
  }

  private receive(message: WireMessage): void {
    if (message.kind === 'reply') {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(remoteError(message.code, message.message));
      return;
    }
    const handler = this.handlers.get(message.op);
    const answer = (reply: Omit<ReplyMessage, 'kind' | 'id'>) => {
      try {
        this.port.post({ kind: 'reply', id: message.id, ...reply });
      } catch {
        // The caller is gone; its own deadline or exit handling ends the call.
      }
    };
    if (!handler) {
      answer({ ok: false, code: 'ERR_INVALID_ARGUMENT', message: `no such operation: ${message.op}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (value) => answer({ ok: true, value }),
        (error: unknown) =>
          answer({
            ok: false,
            code: isParleyError(error) ? error.code : 'ERR_UNKNOWN',
            // Parley's messages carry no content, keys or numbers; anything else is named only.
            message: isParleyError(error) ? error.message : describe(error),
          }),
      );
  }
}

/** The link to the other side failed (it exited, or did not answer in time). */
export function linkFailure(op: string, reason: string): ParleyError {
  return new ParleyError('ERR_TRANSPORT_FAILURE', `call "${op}" failed: the instance ${reason}`, {
    link: reason,
  });
}

export function isLinkFailure(error: unknown): boolean {
  return isParleyError(error, 'ERR_TRANSPORT_FAILURE') && typeof error.details.link === 'string';
}

/** A failure as the figures name it: an error code, or `link:…` when the instance went away or stayed silent. */
export function failureReason(error: unknown): string {
  if (isLinkFailure(error)) return `link:${String((error as ParleyError).details.link)}`;
  return isParleyError(error) ? error.code : 'unknown';
}

function remoteError(code: string | undefined, message: string | undefined): ParleyError {
  const known = (ERROR_CODES as readonly string[]).includes(code ?? '');
  // A failure that is not Parley's (a bug in the other process) keeps its name in `remote`.
  return new ParleyError(known ? (code as ErrorCode) : 'ERR_TRANSPORT_FAILURE', message ?? 'remote failure', {
    remote: code ?? 'unknown',
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : 'non-Error thrown';
}
