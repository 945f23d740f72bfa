/**
 * A gateway that can crash: each life gets its own view of the shared stores and of the
 * network. Killing a life makes every later store call, transport call and event of that
 * instance fail or vanish — as after a kill -9 — optionally at a chosen commit (before it is
 * applied, or right after). The next life is a new gateway over the same stores.
 */
import type { CryptoProvider, RandomSource } from '../../src/crypto/provider.js';
import { isParleyError, ParleyError } from '../../src/errors.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import type { KeyProvider } from '../../src/gateway/key-provider.js';
import type { GatewayEvent, Transport } from '../../src/gateway/types.js';
import type { Clock, Store } from '../../src/storage/contract.js';
import type { TestNetwork } from '../../src/testing/test-network.js';

export interface Life {
  readonly gateway: Gateway;
  dead: boolean;
  /** Die at the n-th commit from now: before it is applied, or right after. */
  arm(commits: number, when: 'before' | 'after'): void;
  kill(): void;
}

export interface CrashableOptions {
  readonly store: Store;
  readonly vaultStore: Store;
  readonly keyProvider: KeyProvider;
  readonly network: TestNetwork;
  readonly crypto: CryptoProvider;
  readonly clock: Clock;
  /** Randomness of one life (a restarted process does not replay its predecessor's stream). */
  readonly random: (life: number) => RandomSource;
  readonly onEvent: (event: GatewayEvent) => void;
  readonly onError: (error: unknown) => void;
  readonly businesses: readonly string[];
  /** A receipt handed to this life (`taken`: its receiveReceipt resolved). */
  readonly onReceipt?: (frameId: string, taken: boolean) => void;
  readonly extra?: Partial<GatewayOptions>;
}

function dead(): ParleyError {
  return new ParleyError('ERR_CLOSED', 'this gateway process was killed');
}

export function startLife(options: CrashableOptions, index: number): Life {
  let armed: { remaining: number; when: 'before' | 'after' } | undefined;
  const life = {
    dead: false,
    arm(commits: number, when: 'before' | 'after') {
      armed = { remaining: commits, when };
    },
    kill() {
      life.dead = true;
    },
  } as Life & { dead: boolean };
  const guard = (inner: Store): Store => ({
    kind: inner.kind,
    region: inner.region,
    location: inner.location,
    get: async (namespace, key) => {
      if (life.dead) throw dead();
      return inner.get(namespace, key);
    },
    getMany: async (namespace, keys) => {
      if (life.dead) throw dead();
      return inner.getMany(namespace, keys);
    },
    list: async (namespace, listOptions) => {
      if (life.dead) throw dead();
      return inner.list(namespace, listOptions);
    },
    sweepExpired: async (now) => {
      if (life.dead) throw dead();
      return inner.sweepExpired(now);
    },
    close: async () => undefined,
    async commit(mutation, commitOptions) {
      if (life.dead) throw dead();
      if (armed && --armed.remaining <= 0) {
        const when = armed.when;
        armed = undefined;
        if (when === 'before') {
          life.dead = true;
          throw dead();
        }
        await inner.commit(mutation, commitOptions);
        life.dead = true;
        throw dead();
      }
      return inner.commit(mutation, commitOptions);
    },
  });
  const network = options.network;
  const transport: Transport = {
    send: async (frame) => {
      if (life.dead) throw dead();
      return network.send(frame);
    },
    requestRetry: async (request) => {
      if (life.dead) throw dead();
      return network.requestRetry(request);
    },
    acknowledge: async (frameId) => {
      if (life.dead) throw dead();
      return network.acknowledge(frameId);
    },
  };
  const gateway = createGateway({
    store: guard(options.store),
    vaultStore: guard(options.vaultStore),
    keyProvider: options.keyProvider,
    transport,
    directory: network,
    crypto: options.crypto,
    clock: options.clock,
    random: options.random(index),
    timer: false,
    preKeys: { batchSize: 5, kyberBatchSize: 2 },
    ...options.extra,
  });
  gateway.onError((error) => {
    // A killed process reports nothing; its own death is not an error of the gateway.
    if (!life.dead && !isParleyError(error, 'ERR_CLOSED')) options.onError(error);
  });
  for (const businessId of options.businesses) {
    gateway.onEvent(businessId, (event) => {
      if (!life.dead) options.onEvent(event);
    });
  }
  Object.assign(life, { gateway });
  network.connect({
    receiveFrame: (frame) => gateway.receiveFrame(frame),
    receiveReceipt: async (receipt) => {
      options.onReceipt?.(receipt.frameId, false);
      await gateway.receiveReceipt(receipt);
      options.onReceipt?.(receipt.frameId, true);
    },
    idle: () => gateway.idle(),
  });
  return life;
}
