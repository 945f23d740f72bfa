import type { Store } from '../../src/storage/contract.js';

/** What a process crash looks like to the code under test: the commit call never returns. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

export type CutMode = 'before' | 'after';

/**
 * A store that "crashes" at its `cutAt`-th commit (counted from when it is armed), or at the
 * first commit `cutAt` picks when it is a predicate: `before`
 * throws without applying the commit, `after` applies it and then throws — the two ways a kill
 * -9 can land around a commit. Everything after the cut also throws (the process is dead);
 * `restart()` gives the underlying store to a new "process".
 */
export function cuttingStore(
  inner: Store,
  cutAt: number | ((mutation: Parameters<Store['commit']>[0]) => boolean),
  mode: CutMode,
): {
  readonly store: Store;
  arm(): void;
  readonly cut: () => boolean;
} {
  let armed = false;
  let commits = 0;
  let dead = false;
  const store: Store = Object.create(inner, {
    commit: {
      value: async (...args: Parameters<Store['commit']>) => {
        if (dead) throw new SimulatedCrash('the process is dead');
        if (!armed) return inner.commit(...args);
        commits += 1;
        const cutHere = typeof cutAt === 'number' ? commits === cutAt : cutAt(args[0]);
        if (!cutHere) return inner.commit(...args);
        dead = true;
        if (mode === 'after') await inner.commit(...args);
        throw new SimulatedCrash(`cut ${mode} commit ${cutAt}`);
      },
    },
  });
  return {
    store,
    arm: () => {
      armed = true;
    },
    cut: () => dead,
  };
}
