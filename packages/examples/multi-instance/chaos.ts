/**
 * The faults of the multi-instance run, at points drawn from the seed (as shares of the inbound
 * messages handled so far): SIGKILL of a random live instance at a random point, SIGKILL inside
 * a commit that finishes claimed work (asserted from the process's own signal), and one
 * database connection ended with pg_terminate_backend while its commit transaction is open.
 * Faults run one at a time; a killed instance is restarted under its index before the next.
 */
import pg from 'pg';
import type { Cluster } from './cluster.js';
import type { Dice } from './dice.js';
import { type ArmRequest, SIGNAL } from './protocol.js';
import type { Tally } from './tally.js';
import { sleep } from './work.js';

export interface ChaosPlan {
  /** SIGKILLs at random points. */
  readonly randomKills: number;
  /** SIGKILLs inside a commit that finishes claimed work. */
  readonly claimKills: number;
  /** Connections ended inside a session commit. */
  readonly terminations: number;
}

type Fault = { readonly at: number; readonly kind: 'random-kill' | 'claim-kill' | 'terminate' };

/** How far (share of the traffic) the devices may run ahead of the next fault. */
const CATCH_UP_SLACK = 0.02;
/** How long an armed instance may take to reach the commit it waits for, before the fault is given up. */
const ARMED_WAIT_MS = 20_000;
/** How long a claimed-work commit stays stopped (the harness kills within milliseconds). */
const CLAIM_STOP_MS = 10_000;
/** How long a session commit's transaction is held open for the termination. */
const HOLD_MS = 4_000;

export class Chaos {
  private readonly faults: Fault[];
  private running: Promise<void> | undefined;
  /** Faults that could not be carried out (no commit of the kind came in time). */
  readonly missed: string[] = [];
  /** The first fault that failed to run (an instance that did not come back): ends the run. */
  failure: unknown;

  constructor(
    private readonly cluster: Cluster,
    private readonly dice: Dice,
    private readonly tally: Tally,
    private readonly adminUrl: string,
    plan: ChaosPlan,
    private readonly progress: () => number,
  ) {
    const faults: Fault[] = [];
    const add = (count: number, kind: Fault['kind']) => {
      for (let i = 0; i < count; i++) faults.push({ at: dice.between(0.08, 0.85), kind });
    };
    add(plan.randomKills, 'random-kill');
    add(plan.claimKills, 'claim-kill');
    add(plan.terminations, 'terminate');
    this.faults = faults.sort((a, b) => a.at - b.at);
  }

  /** Starts the next fault whose point has come (one at a time). */
  poll(): void {
    if (this.running || this.faults.length === 0 || this.progress() < this.faults[0]!.at) return;
    this.start(this.faults.shift()!);
  }

  private start(fault: Fault): void {
    this.running = this.run(fault)
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Faults not yet run (their point not reached) and the one running. */
  async finish(): Promise<void> {
    while (this.faults.length > 0 || this.running) {
      if (this.running) await this.running;
      else this.poll();
      if (!this.running && this.faults.length > 0) {
        // The traffic ended before these points: run them now, on the remaining work.
        this.start(this.faults.shift()!);
      }
    }
    if (this.failure) throw this.failure;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * The traffic is past the next fault's point by more than a little (a restart takes seconds):
   * the devices wait, so that every fault happens while messages flow, none after the traffic.
   */
  behind(): boolean {
    const next = this.faults[0];
    return next !== undefined && this.progress() > next.at + CATCH_UP_SLACK;
  }

  private async run(fault: Fault): Promise<void> {
    if (fault.kind === 'terminate') return this.terminate();
    const live = this.cluster.live();
    if (live.length < 2 && this.cluster.all().length > 1) await sleep(500);
    const victim = this.dice.pick(this.cluster.live());
    const atHandled = this.tally.handled.size;
    let inClaimCommit = false;
    if (fault.kind === 'claim-kill') {
      const armed: ArmRequest = { mode: 'kill-in-claim-commit', holdMs: CLAIM_STOP_MS };
      const signalled = victim.nextSignal((line) => line === SIGNAL.claimCommit, ARMED_WAIT_MS, false);
      // Not awaited: the process may stop inside a commit before it answers.
      victim.rpc.call('arm', armed).catch(() => undefined);
      try {
        await signalled;
      } catch {
        this.missed.push('claim-kill: no claimed-work commit in time');
        victim.rpc.call('disarm').catch(() => undefined);
        return;
      }
      victim.kill();
      inClaimCommit = true;
    } else {
      victim.kill();
    }
    const exit = await victim.exited;
    // The process stopped inside the commit and did not get past it: it never signalled surviving.
    const survived = victim.signals.includes(`${SIGNAL.claimCommit}-survived`);
    this.tally.kills.push({
      instance: victim.index,
      pid: victim.pid,
      atHandled,
      kind: fault.kind === 'claim-kill' ? 'claim-commit' : 'random-point',
      inClaimCommit: inClaimCommit && !survived && exit.signal === 'SIGKILL',
      exitSignal: exit.signal,
    });
    await sleep(this.dice.between(200, 800));
    await this.cluster.start(victim.index);
  }

  /** Ends a held commit's connection; tried again (up to three times) when no commit was held. */
  private async terminate(): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (await this.terminateOnce()) return;
    }
    this.missed.push('terminate: no session commit was held in three tries');
  }

  private async terminateOnce(): Promise<boolean> {
    const instance = this.dice.pick(this.cluster.live());
    const held = instance.nextSignal((line) => line === SIGNAL.commitHeld, ARMED_WAIT_MS, false);
    const outcome = instance.nextSignal(
      (line) => line.startsWith(SIGNAL.heldOutcome),
      ARMED_WAIT_MS * 2,
      false,
    );
    outcome.catch(() => undefined);
    instance.rpc
      .call('arm', { mode: 'hold-session-commit', holdMs: HOLD_MS } satisfies ArmRequest)
      .catch(() => undefined);
    try {
      await held;
    } catch {
      instance.rpc.call('disarm').catch(() => undefined);
      return false;
    }
    // The held process is blocked inside the commit, its transaction open: its backend shows the
    // commit's tag as application_name ("idle in transaction" while the process is stopped).
    await sleep(1_200);
    const client = new pg.Client({ connectionString: this.adminUrl, application_name: 'parley-mi-harness' });
    await client.connect();
    let ended: { application_name: string }[] = [];
    try {
      const result = await client.query<{ application_name: string }>(
        `SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name LIKE 'parley-commit-%' AND state = 'idle in transaction'
           AND now() - state_change > interval '1 second'
         ORDER BY state_change LIMIT 1`,
      );
      ended = result.rows;
    } finally {
      await client.end();
    }
    const line = await outcome.catch(() => `${SIGNAL.heldOutcome} none`);
    this.tally.terminations.push({
      instance: instance.index,
      terminated: ended.length,
      applicationName: ended[0]?.application_name.replace(/[0-9a-f]{32}$/, '…') ?? '',
      outcome: line.slice(SIGNAL.heldOutcome.length + 1),
    });
    return true;
  }
}
