/**
 * Several gateway processes over one PostgreSQL database (issue 17): three instances, 200
 * simulated devices (Parley session managers) sending messages routed at random to any live
 * instance, the business answering each one through a random instance's scoped handle and
 * opening the conversation with 40 people; five SIGKILLs of a random instance at random points
 * plus one inside a commit that finishes claimed work (asserted from the process's own signal),
 * each followed by a restart, and one database connection ended with pg_terminate_backend while
 * its commit transaction was open. The same traffic through one instance, without faults, is
 * the reference for statistics, billing and the integrity signal.
 *
 * Size: the 10 000 messages take several minutes per run on a two-core machine (every
 * message is a decrypt, a handler call, a reply's encryption and a receipt, each a few commits),
 * so the suite runs 200 devices × 10 messages = 2 000 per run (each run also sends 2 040
 * replies and first messages) — the same faults, the same assertions. The full size:
 *
 *   PARLEY_MULTI_INSTANCE_MESSAGES=10000 npx vitest run --project examples test/multi-instance.test.ts
 *   pnpm --filter @parley/examples multi-instance          (the same scenario, 10 000 by default)
 */
import { beforeAll, expect, it } from 'vitest';
import { describePostgres, PG_URL } from '../../storage-adapters/test/support/postgres-server.js';
import { vaultUrlFor } from '../multi-instance/deployment.js';
import { compareExports, reportLines } from '../multi-instance/report.js';
import { runScenario, type ScenarioOptions, type ScenarioResult } from '../multi-instance/scenario.js';

const DEVICES = 200;
const MESSAGES = Number(process.env.PARLEY_MULTI_INSTANCE_MESSAGES ?? 2_000);
const PER_DEVICE = Math.max(1, Math.round(MESSAGES / DEVICES));
const OUTREACH = 40;
const SEED = process.env.PARLEY_MULTI_INSTANCE_SEED ?? 'issue-17';
/** Both runs, at most: far above what they take; past it every process is killed. */
const RUN_DEADLINE_MS = 30 * 60_000;

describePostgres('several gateway instances over one PostgreSQL', () => {
  let one: ScenarioResult;
  let many: ScenarioResult;

  beforeAll(async () => {
    const url = PG_URL!;
    const base: Omit<ScenarioOptions, 'instances' | 'chaos'> = {
      url,
      vaultUrl: vaultUrlFor(url),
      seed: SEED,
      people: DEVICES,
      devicesPerPerson: 1,
      messagesPerDevice: PER_DEVICE,
      outreach: OUTREACH,
      deadlineMs: RUN_DEADLINE_MS,
    };
    one = await runScenario({
      ...base,
      instances: 1,
      chaos: { randomKills: 0, claimKills: 0, terminations: 0 },
    });
    many = await runScenario({
      ...base,
      instances: 3,
      chaos: { randomKills: 5, claimKills: 1, terminations: 1 },
    });
    process.stdout.write(
      `\nmulti-instance (${DEVICES} devices × ${PER_DEVICE} messages, seed "${SEED}"):\n${reportLines(one, many).join('\n')}\n`,
    );
  }, 2 * RUN_DEADLINE_MS);

  it('the faults happened: five SIGKILLs at random points, one inside a claimed-work commit, one connection ended mid-commit', () => {
    const kills = many.figures.kills;
    expect(
      kills.filter((kill) => kill.kind === 'random-point' && kill.exitSignal === 'SIGKILL'),
    ).toHaveLength(5);
    expect(kills.filter((kill) => kill.kind === 'claim-commit' && kill.inClaimCommit)).toHaveLength(1);
    expect(many.missedFaults).toEqual([]);
    // Each killed process was replaced: three first starts plus one restart per kill.
    expect(many.processesStarted).toBe(3 + kills.length);
    expect(many.figures.terminations).toHaveLength(1);
    const [termination] = many.figures.terminations;
    expect(termination?.terminated).toBe(1);
    expect(termination?.applicationName).toMatch(/^parley-commit-/);
    // The adapter found the commit not applied and said so; the gateway's caller retried it.
    expect(termination?.outcome).toBe('ERR_STORE_FAILURE');
  });

  it('nothing lost, nothing doubled, no session desynchronised — in both runs', () => {
    for (const run of [one, many]) {
      const { inbound, outbound, sessions } = run.figures;
      expect.soft(run.drained, 'everything arrived before the drain deadline').toBe(true);
      expect.soft(inbound.never, 'inbound: the handler never got it').toBe(0);
      expect.soft(inbound.handledUnderTwoIds, 'inbound: handled under two ids').toBe(0);
      expect.soft(inbound.handledOnce + inbound.handledAgainSameId).toBe(DEVICES * PER_DEVICE);
      expect.soft(outbound.lost, 'outbound: accepted, never decrypted on a device').toBe(0);
      expect.soft(outbound.neverSent, 'outbound: planned, never accepted').toBe(0);
      expect.soft(outbound.failedStatus, 'outbound: status failed').toBe(0);
      expect.soft(outbound.doubledIds, 'outbound: one message under two ids').toBe(0);
      expect.soft(outbound.doubledShownTwice, 'outbound: one id shown twice on a device').toBe(0);
      expect.soft(outbound.twoCiphertexts, 'outbound: two ciphertexts for one (id, device)').toBe(0);
      expect.soft(sessions.devicesDesynchronised, 'devices that could not decrypt').toBe(0);
      expect.soft(sessions.gatewayUndecryptableFrames, 'frames the gateway could not decrypt').toBe(0);
    }
    // The one-instance run had nothing to recover from.
    expect(one.figures.inbound.handledAgainSameId).toBe(0);
  });

  it('the one-instance exports count the traffic', () => {
    const inbound = DEVICES * PER_DEVICE;
    const outbound = inbound + OUTREACH;
    expect.soft(one.platform.statistics.messagesIn).toBe(inbound);
    expect.soft(one.platform.statistics.messagesOut).toBe(outbound);
    expect.soft(one.platform.statistics.delivered).toBe(outbound);
    expect.soft(one.platform.billing.conversationsOpened).toBe(DEVICES);
    expect.soft(one.platform.billing.openedByBusiness).toBe(OUTREACH);
    expect.soft(one.platform.billing.businessInitiatedDelivered).toBe(OUTREACH);
    // The first messages to 40 people who never wrote pass the run's "new recipients" warn at 20.
    expect.soft(one.platform.integrity.level).toBe('warn');
    expect.soft(one.platform.integrity.sent).toBe(outbound);
  });

  it('statistics, billing and integrity read from one instance equal the one-instance run (counts exactly, distinct people within the sketch error)', () => {
    for (const { field, one: single, many: three, equal } of compareExports(one.platform, many.platform)) {
      expect.soft(equal, `${field}: one instance ${single}, three instances ${three}`).toBe(true);
    }
    // Throttled and blocked exactly as through one: no instance applied a stricter level.
    expect
      .soft(many.highestLevel, 'the highest level an instance applied during the run')
      .toBe(one.highestLevel);
  });
});
