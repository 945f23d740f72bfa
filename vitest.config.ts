import { existsSync } from 'node:fs';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// Workspace packages export their TypeScript sources under this condition, so tests
// run against `src/` without a build step.
const resolve = { conditions: ['parley-source', ...defaultClientConditions] };
const ssr = { resolve: { conditions: ['parley-source', ...defaultServerConditions] } };

const chromium = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
// Locally the browser project runs when Chromium is installed; under CI a missing
// Chromium must fail loudly rather than silently skip (see .ci/run).
const runBrowser = process.env.CI === 'true' || existsSync(chromium);

function nodeProject(name: string, extra: Partial<TestProjectInlineConfiguration['test']> = {}) {
  return {
    resolve,
    ssr,
    test: {
      name,
      root: `packages/${name}`,
      include: ['test/**/*.test.ts'],
      exclude: ['test/browser/**'],
      environment: 'node',
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...extra,
    },
  } satisfies TestProjectInlineConfiguration;
}

const projects: TestProjectInlineConfiguration[] = [
  nodeProject('core'),
  nodeProject('storage-adapters'),
  nodeProject('examples'),
];

if (runBrowser) {
  const { playwright } = await import('@vitest/browser-playwright');
  projects.push({
    resolve,
    test: {
      name: 'storage-adapters-browser',
      root: 'packages/storage-adapters',
      include: ['test/browser/**/*.test.ts'],
      testTimeout: 120_000,
      browser: {
        enabled: true,
        headless: true,
        screenshotFailures: false,
        provider: playwright({
          launchOptions: {
            executablePath: chromium,
            args: [
              '--headless',
              '--no-sandbox',
              '--disable-gpu',
              '--disable-quic',
              '--no-first-run',
              '--disable-background-networking',
              '--disable-component-update',
              '--disable-sync',
            ],
          },
        }),
        instances: [{ browser: 'chromium' }],
      },
    },
  });
}

export default defineConfig({
  test: {
    projects,
    passWithNoTests: false,
  },
});
