/**
 * `pnpm --filter @parley/examples multi-instance`: the multi-instance scenario from the command
 * line (the test runs the same), beside the one-instance run of the same traffic. Needs
 * PARLEY_PG_URL (`export PARLEY_PG_URL="$(bash .ci/postgres-setup.sh)"`).
 */
import { commandLineOrExit, positiveInteger } from '../src/cli.js';
import { vaultUrlFor } from './deployment.js';
import { reportLines } from './report.js';
import { runScenario, type ScenarioOptions } from './scenario.js';

const flags = commandLineOrExit(
  'pnpm --filter @parley/examples multi-instance',
  'Three gateway processes over one PostgreSQL database, with SIGKILLs and a connection ended mid-commit,\n' +
    'beside one instance on the same traffic; prints the figures (lost, doubled, desynchronised, billing).',
  {
    people: { type: 'string', help: 'persons (default 200)', validate: positiveInteger },
    devices: { type: 'string', help: 'devices per person (default 1)', validate: positiveInteger },
    messages: { type: 'string', help: 'messages per device (default 50)', validate: positiveInteger },
    outreach: {
      type: 'string',
      help: 'persons the business writes to first (default 40)',
      validate: positiveInteger,
    },
    kills: { type: 'string', help: 'SIGKILLs at random points (default 5)', validate: positiveInteger },
    seed: { type: 'string', help: 'seed of the harness decisions (default "parley")' },
    'skip-baseline': { type: 'boolean', help: 'only the three-instance run' },
  },
);

const url = process.env.PARLEY_PG_URL;
if (!url) {
  process.stderr.write('PARLEY_PG_URL is not set: export PARLEY_PG_URL="$(bash .ci/postgres-setup.sh)"\n');
  process.exit(2);
}
const base: Omit<ScenarioOptions, 'instances' | 'chaos'> = {
  url,
  vaultUrl: vaultUrlFor(url),
  seed: flags.seed ?? 'parley',
  people: Number(flags.people ?? 200),
  devicesPerPerson: Number(flags.devices ?? 1),
  messagesPerDevice: Number(flags.messages ?? 50),
  outreach: Number(flags.outreach ?? 40),
  log: (line) => process.stdout.write(`  … ${line}\n`),
};
const noFaults = { randomKills: 0, claimKills: 0, terminations: 0 };
const one = flags['skip-baseline']
  ? undefined
  : await runScenario({ ...base, instances: 1, chaos: noFaults });
const many = await runScenario({
  ...base,
  instances: 3,
  chaos: { randomKills: Number(flags.kills ?? 5), claimKills: 1, terminations: 1 },
});
for (const line of reportLines(one ?? many, many)) process.stdout.write(`${line}\n`);
