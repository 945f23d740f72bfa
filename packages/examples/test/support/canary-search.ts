/**
 * Searching bytes for a secret in every encoding it could travel in, and the recording parties
 * the canary tests put around a gateway (transport and directory, logger). Shared by the
 * message canaries (canary.test.ts) and the media canaries (canary-media.test.ts).
 */
import type {
  Directory,
  Gateway,
  GatewayLogger,
  InboundFrame,
  LogFields,
  MediaLocation,
  MediaTransport,
  MediaUploadInfo,
  OutboundFrame,
  PreKeyUpload,
  RetryRequest,
  Transport,
} from '@parley/core';
import { isParleyError } from '@parley/core';
import type { SimulatedMediaServer, TestNetwork } from '@parley/core/testing';

// ── Searching bytes for a secret in every encoding it could travel in ─────────────────

export interface Needle {
  readonly label: string;
  readonly bytes: Buffer;
}

/** The base64 characters that depend only on `bytes`, when they start `align` bytes into a 3-byte group. */
function base64Core(bytes: Buffer, align: number, url: boolean): string {
  const encoded = Buffer.concat([Buffer.alloc(align), bytes]).toString(url ? 'base64url' : 'base64');
  return encoded.slice(align === 0 ? 0 : 4, Math.floor((align + bytes.length) / 3) * 4);
}

function interleave(bytes: Buffer, zeroFirst: boolean): Buffer {
  const out = Buffer.alloc(bytes.length * 2);
  bytes.forEach((byte, i) => {
    out[2 * i + (zeroFirst ? 1 : 0)] = byte;
  });
  return out;
}

/** A secret as text (canary strings) or as bytes (keys), in every form worth searching for. */
export function needles(name: string, secret: string | Uint8Array): Needle[] {
  const bytes = Buffer.from(secret);
  const out: Needle[] = [{ label: `${name} raw`, bytes }];
  if (typeof secret === 'string') {
    const le = Buffer.from(secret, 'utf16le');
    out.push(
      { label: `${name} UTF-16LE`, bytes: le },
      { label: `${name} UTF-16BE`, bytes: Buffer.from(le).swap16() },
    );
  } else {
    out.push(
      { label: `${name} UTF-16LE`, bytes: interleave(bytes, false) },
      { label: `${name} UTF-16BE`, bytes: interleave(bytes, true) },
    );
  }
  out.push(
    { label: `${name} hex`, bytes: Buffer.from(bytes.toString('hex')) },
    { label: `${name} HEX`, bytes: Buffer.from(bytes.toString('hex').toUpperCase()) },
  );
  for (const align of [0, 1, 2]) {
    out.push({ label: `${name} base64@${align}`, bytes: Buffer.from(base64Core(bytes, align, false)) });
    out.push({ label: `${name} base64url@${align}`, bytes: Buffer.from(base64Core(bytes, align, true)) });
  }
  return out;
}

/** Labels of the needles found in the haystack. */
export function findIn(haystack: Buffer, search: readonly Needle[]): string[] {
  return search.filter((needle) => haystack.includes(needle.bytes)).map((needle) => needle.label);
}

/** Any value as the bytes a party holding it could read: strings as UTF-8, byte arrays raw. */
export function bytesOf(value: unknown, out: Buffer[] = [], seen = new Set<unknown>()): Buffer[] {
  if (value === null || value === undefined) return out;
  if (value instanceof Uint8Array) {
    out.push(Buffer.from(value));
  } else if (typeof value === 'string') {
    out.push(Buffer.from(value, 'utf8'));
  } else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    out.push(Buffer.from(String(value)));
  } else if (typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    if (value instanceof Error) {
      out.push(Buffer.from(`${value.name}\n${value.message}\n${value.stack ?? ''}\n${String(value)}`));
      if (isParleyError(value)) out.push(Buffer.from(JSON.stringify(value.toJSON())));
      bytesOf(value.cause, out, seen);
    }
    for (const [key, entry] of Object.entries(value)) {
      out.push(Buffer.from(`\n${key}=`));
      bytesOf(entry, out, seen);
    }
  }
  out.push(Buffer.from('\n'));
  return out;
}

export const blob = (value: unknown) => Buffer.concat(bytesOf(value));

// ── The recording parties ─────────────────────────────────────────────────────────────

/** Everything that crosses between the gateway and the network, in both directions, as bytes. */
export class RecordingTransport implements Transport, Directory {
  readonly seen: Buffer[] = [];
  /** The next this-many `send`s fail with an error of the transport's own that names the recipient. */
  failNextSends = 0;

  constructor(private readonly network: TestNetwork) {}

  record(what: string, ...values: unknown[]): void {
    this.seen.push(Buffer.from(`${what}\n`), blob(values));
  }

  async send(frame: OutboundFrame): Promise<void> {
    this.record('send', frame);
    if (this.failNextSends > 0) {
      this.failNextSends -= 1;
      throw new Error(`no route to ${frame.to} right now`);
    }
    await this.network.send(frame);
  }
  async requestRetry(request: RetryRequest): Promise<void> {
    this.record('requestRetry', request);
    await this.network.requestRetry(request);
  }
  async acknowledge(frameId: string): Promise<void> {
    this.record('acknowledge', frameId);
    await this.network.acknowledge(frameId);
  }
  async publish(upload: PreKeyUpload): Promise<void> {
    this.record('publish', upload);
    await this.network.publish(upload);
  }
  async availableOneTimePreKeys(number: string): Promise<number> {
    const count = await this.network.availableOneTimePreKeys(number);
    this.record('availableOneTimePreKeys', number, count);
    return count;
  }
  async availableOneTimeKyberPreKeys(number: string): Promise<number> {
    const count = await this.network.availableOneTimeKyberPreKeys(number);
    this.record('availableOneTimeKyberPreKeys', number, count);
    return count;
  }
  async fetchDevices(phoneNumber: string): Promise<readonly number[]> {
    const devices = await this.network.fetchDevices(phoneNumber);
    this.record('fetchDevices', phoneNumber, devices);
    return devices;
  }
  async fetchBundle(phoneNumber: string, deviceId: number) {
    const bundle = await this.network.fetchBundle(phoneNumber, deviceId);
    this.record('fetchBundle', phoneNumber, deviceId, bundle);
    return bundle;
  }

  /** The network's side of the gateway: frames and receipts in, outcomes and errors back. */
  connect(gateway: Gateway): void {
    this.network.connect({
      receiveFrame: async (frame: InboundFrame) => {
        this.record('receiveFrame', frame);
        try {
          const outcome = await gateway.receiveFrame(frame);
          this.record('outcome', outcome);
          return outcome;
        } catch (error) {
          this.record('error', error);
          throw error;
        }
      },
      receiveReceipt: async (receipt) => {
        this.record('receiveReceipt', receipt);
        await gateway.receiveReceipt(receipt);
      },
      idle: () => gateway.idle(),
    });
  }

  all(): Buffer {
    return Buffer.concat(this.seen);
  }
}

/** Everything that crosses between the gateway and the network's media host, as bytes. */
export class RecordingMediaTransport implements MediaTransport {
  readonly seen: Buffer[] = [];

  constructor(private readonly host: SimulatedMediaServer) {}

  async upload(stream: ReadableStream<Uint8Array>, info: MediaUploadInfo): Promise<MediaLocation> {
    const parts: Buffer[] = [];
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
    const bytes = Buffer.concat(parts);
    this.seen.push(Buffer.from('upload\n'), blob(info), bytes);
    const location = await this.host.upload(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(bytes));
          controller.close();
        },
      }),
      info,
    );
    this.seen.push(blob(location));
    return location;
  }

  async download(location: MediaLocation, range?: { readonly start: number }) {
    this.seen.push(Buffer.from('download\n'), blob([location, range]));
    const source = (await this.host.download(location, range)) as AsyncIterable<Uint8Array>;
    const seen = this.seen;
    return (async function* () {
      for await (const chunk of source) {
        seen.push(Buffer.from(chunk));
        yield chunk;
      }
    })();
  }

  all(): Buffer {
    return Buffer.concat(this.seen);
  }
}

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: LogFields | undefined;
}

export function recordingLogger(): GatewayLogger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
