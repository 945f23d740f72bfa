import { createPortableCrypto } from '../crypto/portable.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { createDeterministicRandom } from '../crypto/random.js';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway/gateway.js';
import { createLocalKeyProvider } from '../gateway/key-provider.js';
import type { GatewayMediaOptions } from '../gateway/media-options.js';
import type { MediaContent } from '../gateway/media-types.js';
import type { GatewayEvent, InboundMessage, MessageId, OutboundStatus } from '../gateway/types.js';
import { createMemoryBlobStore } from '../media/memory-blob-store.js';
import type { Store } from '../storage/contract.js';
import { createMemoryStore } from '../storage/memory.js';
import { ManualClock } from './manual-clock.js';
import { createSimulatedPerson, type SimulatedPerson } from './simulated-person.js';
import { type FlushResult, TestNetwork } from './test-network.js';

/** A message the business's handler received, with its content decoded. */
export interface BusinessMessage extends InboundMessage {
  readonly text: string;
}

/** A business registered on the gateway, with one number and recorders for its messages and events. */
export interface TestBusiness {
  readonly id: string;
  readonly number: string;
  /** What the business's message handler received, in order (redeliveries included). */
  readonly messages: BusinessMessage[];
  readonly events: GatewayEvent[];
  send(to: string, content: string | Uint8Array | MediaContent): Promise<MessageId>;
  /** The latest status event of a message the business sent. */
  status(messageId: MessageId): OutboundStatus | undefined;
  /** The handler throws for the next `count` messages (the gateway redelivers them later). */
  failNextDeliveries(count?: number): void;
}

export interface TestWorldOptions {
  /** Seeds every random source in the world; the same seed gives the same keys and ids. */
  readonly seed?: string;
  readonly businessId?: string;
  readonly businessNumber?: string;
  readonly retentionDays?: number;
  readonly personNumber?: string;
  /** Devices of the person (default 1). */
  readonly personDevices?: number;
  /** Default: the portable (noble) provider, which runs everywhere. */
  readonly crypto?: CryptoProvider;
  readonly clock?: ManualClock;
  /** Message store and vault store (default: two memory stores on the world's clock). */
  readonly stores?: { readonly store: Store; readonly vaultStore: Store };
  /**
   * The gateway's media settings; the media host is always the network's. Default: a memory
   * blob store on the world's clock and the default size limits.
   */
  readonly media?: Omit<Partial<GatewayMediaOptions>, 'transport'>;
  /** Anything else for `createGateway` (the world supplies transport, directory, clock, keys). */
  readonly gateway?: Partial<GatewayOptions>;
}

export interface TestWorld {
  readonly gateway: Gateway;
  readonly business: TestBusiness;
  readonly person: SimulatedPerson;
  readonly network: TestNetwork;
  readonly clock: ManualClock;
  readonly random: RandomSource;
  readonly crypto: CryptoProvider;
  /** Errors the gateway reported from background work. */
  readonly errors: unknown[];
  /** Another person on the same network. */
  addPerson(phoneNumber: string, devices?: number): Promise<SimulatedPerson>;
  /** Moves the clock, runs the gateway's scheduled work (`tick`) and flushes the network. */
  advance(ms: number): Promise<FlushResult>;
  close(): Promise<void>;
}

export const TEST_BUSINESS_NUMBER = '+15550100';
export const TEST_PERSON_NUMBER = '+15550123';

/**
 * A gateway with one business and number, a person with devices and a step-driven network
 * between them, all on a manual clock and seeded randomness:
 * `const { gateway, business, person, network } = await createTestWorld()`.
 */
export async function createTestWorld(options: TestWorldOptions = {}): Promise<TestWorld> {
  const seed = options.seed ?? 'parley-test-world';
  const random = createDeterministicRandom(seed);
  const crypto = options.crypto ?? createPortableCrypto();
  const clock = options.clock ?? new ManualClock();
  const network = new TestNetwork({ random: createDeterministicRandom(`${seed}/network`) });
  const stores = options.stores ?? {
    store: createMemoryStore({ clock }),
    vaultStore: createMemoryStore({ clock }),
  };
  const gateway = createGateway({
    crypto,
    random,
    clock,
    timer: false,
    ...stores,
    keyProvider: createLocalKeyProvider({ kek: random(32), crypto, random }),
    // Media through the network's media host, blobs in memory (or the blob store given).
    media: {
      ...options.media,
      blobStore: options.media?.blobStore ?? createMemoryBlobStore({ clock }),
      transport: network.media,
    },
    ...options.gateway,
    transport: network,
    directory: network,
  });
  const errors: unknown[] = [];
  gateway.onError((error) => errors.push(error));
  network.connect(gateway);

  const businessId = options.businessId ?? 'acme';
  const number = options.businessNumber ?? TEST_BUSINESS_NUMBER;
  await gateway.registerBusiness({ businessId, retentionDays: options.retentionDays });
  await gateway.addNumber(businessId, number);
  const business = recordBusiness(gateway, businessId, number);

  const addPerson = async (phoneNumber: string, devices = 1): Promise<SimulatedPerson> =>
    network.addPerson(
      await createSimulatedPerson({
        phoneNumber,
        devices,
        crypto,
        clock,
        random: createDeterministicRandom(`${seed}/person/${phoneNumber}`),
        padding: options.gateway?.padding,
        // The people's group format follows the gateway's (the network's).
        groupFormat: options.gateway?.groups?.format,
      }),
    );
  const person = await addPerson(options.personNumber ?? TEST_PERSON_NUMBER, options.personDevices ?? 1);

  return {
    gateway,
    business,
    person,
    network,
    clock,
    random,
    crypto,
    errors,
    addPerson,
    async advance(ms) {
      clock.advance(ms);
      await gateway.tick();
      return network.flush();
    },
    close: () => gateway.close(),
  };
}

function recordBusiness(gateway: Gateway, id: string, number: string): TestBusiness {
  const messages: BusinessMessage[] = [];
  const events: GatewayEvent[] = [];
  const statuses = new Map<MessageId, OutboundStatus>();
  let failures = 0;
  gateway.onMessage(id, (message) => {
    if (failures > 0) {
      failures -= 1;
      throw new Error('the business handler is failing on purpose');
    }
    messages.push({ ...message, text: new TextDecoder().decode(message.content) });
  });
  gateway.onEvent(id, (event) => {
    events.push(event);
    if (event.type === 'status') statuses.set(event.messageId, event.status);
  });
  return {
    id,
    number,
    messages,
    events,
    send: (to, content) => gateway.send({ from: number, to, content }),
    status: (messageId) => statuses.get(messageId),
    failNextDeliveries(count = 1) {
      failures += count;
    },
  };
}
