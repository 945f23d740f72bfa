/**
 * The person's phone, in a browser tab: Parley's core (SessionManager, portable crypto)
 * keeps the identity, prekeys and sessions in IndexedDB, so a reload continues the same
 * session. Bundled by server.ts with esbuild; talks to the server with fetch and a WebSocket.
 */
import {
  createPortableCrypto,
  isParleyError,
  type PreKeyBundle,
  SessionManager,
  type Store,
} from '@parley/core';
import { contentBytes, decodeMessagePlaintext, encodeMessagePlaintext } from '@parley/core/content';
import { createIndexedDbStore } from '@parley/storage-adapters/indexeddb';
import {
  type BundleJson,
  type Config,
  type DeviceKeysJson,
  type FrameJson,
  fromBase64,
  PHONE_NUMBER,
  type PushedFrame,
  type ReceiptJson,
  toBase64,
} from './protocol.js';

export interface ChatEntry {
  readonly text: string;
  /** 2 = whisper, 3 = prekey. */
  readonly type: 2 | 3;
}

/** What the page exposes as `window.parley` (the UI uses it; so does the test). */
export interface PageApi {
  ready: boolean;
  error: string | undefined;
  phoneNumber: string;
  /** The identity came from IndexedDB (this device was set up by an earlier page load). */
  restored: boolean;
  /** A session with the business existed when the page loaded. */
  sessionOnLoad: boolean;
  /** Protocol version of a session this page load started (4 = PQXDH, 3 = X3DH). */
  startedSessionVersion: number | undefined;
  readonly sent: ChatEntry[];
  readonly received: ChatEntry[];
  send(text: string): Promise<ChatEntry>;
}

const DEVICE_ID = 1;
const DB_PREFIX = 'parley-person-';
/** Marks that this device's keys were published (an app record in Parley's `meta` namespace). */
const PUBLISHED_KEY = 'example/published';
const ONE_TIME_PREKEYS = 20;
const MAX_RECONNECTS = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const api: PageApi = {
  ready: false,
  error: undefined,
  phoneNumber: '',
  restored: false,
  sessionOnLoad: false,
  startedSessionVersion: undefined,
  sent: [],
  received: [],
  send: () => Promise.reject(new Error('not ready yet')),
};
(window as unknown as { parley: PageApi }).parley = api;

function show(line: string, kind: 'info' | 'in' | 'out' | 'error' = 'info'): void {
  const item = document.createElement('li');
  item.className = kind;
  item.textContent = line;
  $('log').append(item);
}

const typeName = (type: 2 | 3) => (type === 3 ? 'prekey' : 'whisper');

async function http<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const error = (await response.json().catch(() => ({}))) as { error?: string };
    throw new Error(`${method} ${path}: ${response.status} ${error.error ?? ''}`.trim());
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** One IndexedDB database per server instance: a restarted server has forgotten this device. */
async function openStore(config: Config): Promise<Store> {
  const name = `${DB_PREFIX}${config.instance}`;
  for (const db of (await indexedDB.databases?.()) ?? []) {
    if (db.name?.startsWith(DB_PREFIX) && db.name !== name) indexedDB.deleteDatabase(db.name);
  }
  return createIndexedDbStore({ name });
}

async function publishKeys(sessions: SessionManager, store: Store, phoneNumber: string): Promise<void> {
  const identity = await sessions.initializeIdentity();
  const signedPreKey = await sessions.generateSignedPreKey(1);
  const oneTime = await sessions.generateOneTimePreKeys(1, ONE_TIME_PREKEYS);
  const kyber = await sessions.generateKyberPreKey(1, { lastResort: true });
  const keys: DeviceKeysJson = {
    phoneNumber,
    deviceId: DEVICE_ID,
    registrationId: identity.registrationId,
    identityKey: toBase64(identity.identityKeyPair.publicKey),
    signedPreKey: {
      id: signedPreKey.id,
      publicKey: toBase64(signedPreKey.publicKey),
      signature: toBase64(signedPreKey.signature),
    },
    oneTimePreKeys: oneTime.map((key) => ({ id: key.id, publicKey: toBase64(key.publicKey) })),
    kyberPreKey: { id: kyber.id, publicKey: toBase64(kyber.publicKey), signature: toBase64(kyber.signature) },
  };
  await http('POST', '/api/keys', keys);
  await store.commit([
    { type: 'put', namespace: 'meta', key: PUBLISHED_KEY, value: encoder.encode(phoneNumber) },
  ]);
}

function decodeBundle(json: BundleJson): PreKeyBundle {
  const optional = (text: string | undefined) => (text === undefined ? undefined : fromBase64(text));
  return {
    registrationId: json.registrationId,
    deviceId: json.deviceId,
    identityKey: fromBase64(json.identityKey),
    signedPreKeyId: json.signedPreKeyId,
    signedPreKey: fromBase64(json.signedPreKey),
    signedPreKeySignature: fromBase64(json.signedPreKeySignature),
    preKeyId: json.preKeyId,
    preKey: optional(json.preKey),
    kyberPreKeyId: json.kyberPreKeyId,
    kyberPreKey: optional(json.kyberPreKey),
    kyberPreKeySignature: optional(json.kyberPreKeySignature),
  };
}

async function start(): Promise<void> {
  const phoneNumber = new URLSearchParams(location.search).get('phone') ?? '+15550123';
  if (!PHONE_NUMBER.test(phoneNumber)) throw new Error('?phone= expects an E.164 number, e.g. +15550123');
  api.phoneNumber = phoneNumber;
  const config = await http<Config>('GET', '/api/config');
  const business = { name: config.businessNumber, deviceId: 1 };
  $('title').textContent = `You (${phoneNumber}) ↔ ${config.businessName} (${config.businessNumber})`;

  const store = await openStore(config);
  const sessions = new SessionManager({
    store,
    crypto: createPortableCrypto(),
    scope: `person-${DEVICE_ID}`,
  });
  const published = await store.get('meta', PUBLISHED_KEY);
  if (published && decoder.decode(published.value) === phoneNumber) {
    api.restored = true;
    show('Identity and prekeys restored from IndexedDB.');
  } else {
    await publishKeys(sessions, store, phoneNumber);
    show(`New device: identity created, ${ONE_TIME_PREKEYS} one-time prekeys and a Kyber prekey published.`);
  }
  api.sessionOnLoad = await sessions.hasSession(business);
  show(
    api.sessionOnLoad
      ? 'Session with the business restored from IndexedDB.'
      : 'No session yet: the first message starts one.',
  );

  // Frames are decrypted one at a time, in arrival order.
  let inbound = Promise.resolve();
  const receive = (socket: WebSocket, frame: PushedFrame) => {
    inbound = inbound.then(async () => {
      if (frame.type === 8) {
        // The business could not decrypt a frame of this page's; this demo client keeps no
        // send log to resend from (Signal's clients do), so it only says so.
        show('The business could not decrypt a message from this page (a decryption error).', 'error');
        socket.send(JSON.stringify({ kind: 'receipt', frameId: frame.frameId } satisfies ReceiptJson));
        return;
      }
      const type = frame.type;
      try {
        const result = await sessions.decrypt(business, { type, body: fromBase64(frame.body) });
        const envelope = decodeMessagePlaintext(result.plaintext);
        const entry: ChatEntry = {
          text: envelope.text ?? decoder.decode(contentBytes(envelope)),
          type,
        };
        api.received.push(entry);
        show(`${config.businessName}: ${entry.text}   [${typeName(entry.type)}]`, 'in');
      } catch (error) {
        // A frame decrypted before a reload, whose receipt was lost: already shown, confirm it again.
        if (!isParleyError(error, 'ERR_DUPLICATE_MESSAGE')) {
          show(`Could not decrypt a frame: ${isParleyError(error) ? error.code : String(error)}`, 'error');
          return;
        }
      }
      const receipt: ReceiptJson = { kind: 'receipt', frameId: frame.frameId };
      socket.send(JSON.stringify(receipt));
    });
  };

  let reconnects = 0;
  const connect = () => {
    const url = new URL('/api/inbox', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = new URLSearchParams({ phone: phoneNumber, device: String(DEVICE_ID) }).toString();
    const socket = new WebSocket(url);
    socket.onopen = () => {
      reconnects = 0;
    };
    socket.onmessage = (event) => receive(socket, JSON.parse(String(event.data)) as PushedFrame);
    socket.onclose = () => {
      if (reconnects >= MAX_RECONNECTS) return show('Disconnected from the server.', 'error');
      reconnects += 1;
      setTimeout(connect, 500 * reconnects);
    };
  };
  connect();

  api.send = async (text: string) => {
    if (!(await sessions.hasSession(business))) {
      const bundle = await http<BundleJson>(
        'GET',
        `/api/bundle/${encodeURIComponent(config.businessNumber)}`,
      );
      const { sessionVersion } = await sessions.processBundle(business, decodeBundle(bundle));
      api.startedSessionVersion = sessionVersion;
      const handshake = sessionVersion === 4 ? 'PQXDH' : 'X3DH';
      show(
        `Fetched the business's prekey bundle and started a session (${handshake}, version ${sessionVersion}).`,
      );
    }
    const message = await sessions.encrypt(business, encodeMessagePlaintext({ text }));
    const frame: FrameJson = {
      frameId: crypto.randomUUID(),
      from: phoneNumber,
      deviceId: DEVICE_ID,
      to: config.businessNumber,
      type: message.type,
      body: toBase64(message.body),
    };
    await http('POST', '/api/frames', frame);
    const entry: ChatEntry = { text, type: message.type };
    api.sent.push(entry);
    show(`You: ${text}   [${typeName(entry.type)}]`, 'out');
    return entry;
  };

  const form = $<HTMLFormElement>('compose');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('text');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    api.send(text).catch((error: unknown) => show(String(error), 'error'));
  });
  api.ready = true;
}

start().catch((error: unknown) => {
  api.error = error instanceof Error ? error.message : String(error);
  show(`Failed to start: ${api.error}`, 'error');
});
