// In a browser the package's #default-crypto import must resolve to the portable provider,
// so that no node:* module is ever bundled.
import { defaultCrypto } from '@parley/core';
import { expect, it } from 'vitest';

it('the default crypto provider in a browser is the portable one', () => {
  expect(defaultCrypto().name).toBe('portable');
});
