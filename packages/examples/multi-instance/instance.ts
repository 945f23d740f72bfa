/**
 * One gateway process of a multi-instance deployment, as the harness starts it: the message
 * store on PostgreSQL, the key vault on a database of its own, a local key provider on the
 * deployment's KEK, and the network (transport, directory) and the business reached over IPC.
 *
 * The business's side runs through a scoped handle: its message handler reports each message
 * to the harness and returns only when the harness has it (so a message the handler returned
 * from is never unknown to the test, even if the process is killed a moment later).
 *
 * The store is wrapped only to watch commits (never to change them): the harness can arm it to
 * stop inside the next commit that finishes claimed due work (and then kill the process), or to
 * hold a session commit's open transaction while the harness ends its database connection.
 * Signals go out synchronously on fd 4 before the process stops, so the harness knows exactly
 * what was in flight when it killed.
 */
import { writeSync } from 'node:fs';
import {
  type CommitOptions,
  type CommitResult,
  createGateway,
  createLocalKeyProvider,
  type Directory,
  type InboundFrame,
  type Mutation,
  type Store,
  type Transport,
  type WriteOperation,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createPostgresStore } from '@parley/storage-adapters/postgres';
import { finishesClaimedWork, writesSession } from './commit-kinds.js';
import { readFigures } from './figures-reader.js';
import {
  type ArmRequest,
  CONFIG_VARIABLE,
  type HandledMessage,
  type InstanceConfig,
  type InstanceHealth,
  SIGNAL,
  SIGNAL_FD,
  type StatusReport,
} from './protocol.js';
import { RpcPeer, type WireMessage } from './rpc.js';

const config = JSON.parse(process.env[CONFIG_VARIABLE] ?? 'null') as InstanceConfig | null;
if (!config) {
  process.stderr.write(`instance: ${CONFIG_VARIABLE} is not set (started by the harness only)\n`);
  process.exit(2);
}
// Without the harness there is no network: a process whose parent is gone ends.
process.on('disconnect', () => process.exit(1));

const rpc = new RpcPeer({
  post: (message: WireMessage) => {
    process.send?.(message);
  },
  listen: (listener) => process.on('message', (message) => listener(message as WireMessage)),
});

function signal(line: string): void {
  writeSync(SIGNAL_FD, `${line}\n`);
}

/** Blocks the whole process (event loop included) without spinning the CPU. */
function sleepBlocking(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ── The store, watched ──────────────────────────────────────────────────────────────

let armed: ArmRequest | undefined;
/** The first write of each commit under way → its mutation (the adapter's hook sees writes only). */
const inFlight = new Map<WriteOperation, Mutation>();
/** The session commit held open for the harness (the only transaction of this process meanwhile). */
let held: { readonly mutation: Mutation; readonly holdMs: number; reached: boolean } | undefined;
/** While set, new commits wait: the held commit runs alone, so its connection is the one ended. */
let gate: Promise<void> | undefined;

const inner = await createPostgresStore({
  url: config.url,
  schema: config.schema,
  applicationName: `parley-mi-${config.index}`,
  pool: { max: config.tuning.poolMax },
  testHooks: {
    beforeWrite(operation, index) {
      if (index !== 0) return;
      const mutation = inFlight.get(operation);
      if (!mutation) return;
      if (held?.mutation === mutation) {
        // Versions checked, nothing written, the transaction open: the harness ends its connection now.
        held.reached = true;
        signal(SIGNAL.commitHeld);
        sleepBlocking(held.holdMs);
      } else if (armed?.mode === 'kill-in-claim-commit' && finishesClaimedWork(mutation)) {
        const holdMs = armed.holdMs;
        armed = undefined;
        // Versions checked, nothing written, the transaction open: the harness kills now.
        signal(SIGNAL.claimCommit);
        sleepBlocking(holdMs);
        signal(`${SIGNAL.claimCommit}-survived`);
      }
    },
  },
});

async function commitWatched(mutation: Mutation, options: CommitOptions | undefined): Promise<CommitResult> {
  const first = mutation[0];
  if (first) inFlight.set(first, mutation);
  try {
    return await inner.commit(mutation, options);
  } finally {
    if (first) inFlight.delete(first);
  }
}

/** Runs the held commit alone: waits for the commits under way, keeps new ones waiting. */
async function commitHeld(mutation: Mutation, options: CommitOptions | undefined, holdMs: number) {
  let open = () => {};
  gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  try {
    while (inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 2));
    held = { mutation, holdMs, reached: false };
    const result = await commitWatched(mutation, options);
    signal(`${SIGNAL.heldOutcome} ok`);
    return result;
  } catch (error) {
    if (held && !held.reached && (error as { code?: string }).code === 'ERR_STORE_CONFLICT') {
      // Its version check failed (another instance moved the session): nothing was held. The
      // session manager commits again at once; hold that one instead.
      armed = { mode: 'hold-session-commit', holdMs };
    } else {
      signal(`${SIGNAL.heldOutcome} ${(error as { code?: string }).code ?? 'ERR_UNKNOWN'}`);
    }
    throw error;
  } finally {
    held = undefined;
    gate = undefined;
    open();
  }
}

const store: Store = {
  kind: inner.kind,
  region: inner.region,
  location: inner.location,
  get: (namespace, key) => inner.get(namespace, key),
  getMany: (namespace, keys) => inner.getMany(namespace, keys),
  list: (namespace, options) => inner.list(namespace, options),
  sweepExpired: (now) => inner.sweepExpired(now),
  close: () => inner.close(),
  async commit(mutation, options) {
    while (gate) await gate;
    if (armed?.mode === 'hold-session-commit' && writesSession(mutation)) {
      const { holdMs } = armed;
      armed = undefined;
      return commitHeld(mutation, options, holdMs);
    }
    return commitWatched(mutation, options);
  },
};
const vaultStore = await createPostgresStore({
  url: config.vaultUrl,
  schema: config.vaultSchema,
  applicationName: `parley-mi-vault-${config.index}`,
  pool: { max: 2 },
});

// ── The network and the directory, over IPC ─────────────────────────────────────────

const transport: Transport = {
  send: (frame) => rpc.call('transport.send', { instance: config.index, frame }),
  requestRetry: (request) => rpc.call('transport.requestRetry', { instance: config.index, request }),
  acknowledge: (frameId) => rpc.call('transport.acknowledge', { instance: config.index, frameId }),
};
const directory: Directory = {
  publish: (upload) => rpc.call('directory.publish', upload),
  availableOneTimePreKeys: (number) => rpc.call('directory.availableOneTimePreKeys', number),
  availableOneTimeKyberPreKeys: (number) => rpc.call('directory.availableOneTimeKyberPreKeys', number),
  fetchDevices: (phoneNumber) => rpc.call('directory.fetchDevices', phoneNumber),
  fetchBundle: (phoneNumber, deviceId) => rpc.call('directory.fetchBundle', { phoneNumber, deviceId }),
};

const crypto = createNodeCrypto();
const kek = Uint8Array.from(Buffer.from(config.kekHex, 'hex'));
const { tuning } = config;
const gateway = createGateway({
  store,
  vaultStore,
  keyProvider: createLocalKeyProvider({ kek, crypto }),
  transport,
  directory,
  crypto,
  timer: { intervalMs: tuning.tickMs },
  redelivery: { backoff: { initialMs: tuning.redeliveryInitialMs, maxMs: tuning.backoffMaxMs } },
  sending: {
    maxAttempts: tuning.maxSendAttempts,
    backoff: { initialMs: tuning.sendInitialMs, maxMs: tuning.backoffMaxMs },
  },
  claims: { leaseMs: tuning.claimLeaseMs },
  integrity: tuning.integrity,
});
kek.fill(0);
let backgroundErrors = 0;
gateway.onError(() => {
  backgroundErrors += 1;
});

// ── The business, through its scoped handle ─────────────────────────────────────────

const handle = gateway.forBusiness(config.businessId, { principal: `instance-${config.index}` });
await handle.onMessage(async (message) => {
  const handled: HandledMessage = {
    instance: config.index,
    id: message.id,
    text: message.text,
    from: message.from,
    deviceId: message.deviceId,
    attempt: message.attempt,
  };
  await rpc.call('business.message', handled);
});
await handle.onEvent(async (event) => {
  if (event.type !== 'status') return;
  const report: StatusReport = {
    instance: config.index,
    eventId: event.eventId,
    messageId: event.messageId,
    status: event.status,
  };
  await rpc.call('business.event', report);
});

rpc.serve('receiveFrame', (frame: InboundFrame) => gateway.receiveFrame(frame));
rpc.serve('receiveReceipt', (receipt: { frameId: string }) => gateway.receiveReceipt(receipt));
rpc.serve('send', (request: { from: string; to: string; content: string }) => handle.send(request));
rpc.serve('tick', () => gateway.tick());
rpc.serve('arm', (request: ArmRequest) => {
  armed = request;
});
rpc.serve('disarm', () => {
  armed = undefined;
});
rpc.serve('figures', () => readFigures(gateway, config.businessId));
rpc.serve('health', (): InstanceHealth => {
  const cpu = process.cpuUsage();
  return {
    backgroundErrors,
    plaintext: gateway.plaintextInUse().buffers,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    level: gateway.integritySignals().signal(config.businessId).level,
  };
});
rpc.serve('close', async () => {
  await gateway.close();
  await store.close();
  await vaultStore.close();
  setImmediate(() => process.exit(0));
});

signal(SIGNAL.ready);
