/**
 * `@parley/core/testing`: everything a team needs to unit-test its flows through Parley
 * without a network, a real clock or real randomness. Runs in browsers (no `node:*`).
 * Not for production: the seeded random source makes every key predictable.
 */
export { createDeterministicRandom } from '../crypto/random.js';
export { createMemoryBlobStore } from '../media/memory-blob-store.js';
export { createManualClock, DEFAULT_TEST_TIME, ManualClock } from './manual-clock.js';
export { type MediaRequest, SimulatedMediaServer, type SimulatedMediaServerOptions } from './media-server.js';
export {
  MemberList,
  SimulatedGroup,
  type SimulatedGroupMember,
  type SimulatedGroupOptions,
} from './simulated-group.js';
export {
  createSimulatedPerson,
  type DecryptionErrorAnswer,
  type NetworkPerson,
  type PersonDevice,
  type PersonLink,
  type PersonMediaOptions,
  type PersonMessage,
  type SendOptions,
  SimulatedPerson,
  type SimulatedPersonOptions,
} from './simulated-person.js';
export {
  DEFAULT_MAX_FLUSH_STEPS,
  type Delivery,
  type FlushResult,
  type GatewayEndpoint,
  type Packet,
  type PacketDirection,
  type PacketFilter,
  TestNetwork,
  type TestNetworkOptions,
} from './test-network.js';
export {
  type BusinessMessage,
  createTestWorld,
  TEST_BUSINESS_NUMBER,
  TEST_PERSON_NUMBER,
  type TestBusiness,
  type TestWorld,
  type TestWorldOptions,
} from './test-world.js';
