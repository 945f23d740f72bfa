/**
 * The gateway the inproc, HTTP and WebSocket examples (and their tests) run: `createGateway`
 * with two memory stores on the example's clock, a random key-encryption key (in production it
 * lives in a KMS), and no timer — the examples drive scheduled work with `runDue()`.
 */
import {
  type Clock,
  type CryptoProvider,
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  type Directory,
  defaultRandom,
  type Gateway,
  type Transport,
} from '@parley/core';

export interface MemoryGatewayOptions {
  readonly transport: Transport;
  readonly directory: Directory;
  readonly crypto: CryptoProvider;
  readonly clock: Clock;
}

export function createMemoryGateway(options: MemoryGatewayOptions): Gateway {
  const { transport, directory, crypto, clock } = options;
  return createGateway({
    store: createMemoryStore({ clock }),
    vaultStore: createMemoryStore({ clock }),
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport,
    directory,
    crypto,
    clock,
    timer: false,
  });
}
