import { describe, expect, it, vi } from 'vitest';
import { isParleyError, ParleyError } from '../src/errors.js';

describe('ParleyError across copies of the package', () => {
  it('an error thrown by a second copy of the module is recognised by isParleyError and instanceof', async () => {
    // A reset module registry evaluates errors.ts a second time: a separate class, as when an
    // app and an adapter each bring their own copy of @parley/core.
    vi.resetModules();
    const copy = await import('../src/errors.js');
    expect(copy.ParleyError).not.toBe(ParleyError);
    const foreign = new copy.ParleyError('ERR_STORE_CONFLICT', 'conflict');
    expect(isParleyError(foreign)).toBe(true);
    expect(isParleyError(foreign, 'ERR_STORE_CONFLICT')).toBe(true);
    expect(isParleyError(foreign, 'ERR_INVALID_MAC')).toBe(false);
    expect(foreign instanceof ParleyError).toBe(true);
    expect(copy.isParleyError(new ParleyError('ERR_CLOSED', 'closed'), 'ERR_CLOSED')).toBe(true);
  });

  it('look-alikes without the brand are not ParleyErrors', () => {
    const lookAlike = Object.assign(new Error('x'), {
      name: 'ParleyError',
      code: 'ERR_INVALID_MAC',
      details: {},
    });
    expect(isParleyError(lookAlike)).toBe(false);
    expect(lookAlike instanceof ParleyError).toBe(false);
    for (const value of [null, undefined, 0, 'ERR_INVALID_MAC', {}, Symbol('x')]) {
      expect(isParleyError(value)).toBe(false);
    }
  });

  it('the brand does not show in JSON or enumeration', () => {
    const error = new ParleyError('ERR_NOT_FOUND', 'missing', { field: 'id' });
    expect(Object.keys(error)).not.toContain(String(Symbol.for('@parley/core/ParleyError')));
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'ParleyError',
      code: 'ERR_NOT_FOUND',
      message: 'missing',
      details: { field: 'id' },
    });
  });
});
