/**
 * `@parley/core/node`: the Node-only entry. The root entry never imports `node:*`, so it
 * stays loadable in browsers; Node callers take the faster provider from here.
 */
export { createNodeCrypto } from './crypto/node.js';
export {
  decryptMediaNodeStream,
  encryptMediaNodeStream,
  type MediaEncryptNodeStream,
} from './media/node-streams.js';
