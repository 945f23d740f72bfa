#!/usr/bin/env node
/**
 * The consumer test: Parley as an npm user gets it, outside this workspace.
 *
 *   1. packs @parley/core and @parley/storage-adapters (prepack builds dist/ first) and checks
 *      what the tarballs carry (dist with declarations and maps, README, LICENSE; no tests, no
 *      test vectors, no `workspace:` ranges);
 *   2. installs the tarballs with npm into a fresh project in the system's temporary folder
 *      (better-sqlite3 is installed without scripts and given the workspace's compiled binary:
 *      a second compile costs minutes);
 *   3. extracts every ```js block of the READMEs (the root one, and each package's README as
 *      packed) and runs them with plain `node` — no tsx, no export conditions — so the READMEs
 *      cannot drift from the code. A block whose fence is preceded by
 *      `<!-- readme-test: continues -->` runs in the same program as the block before it, and
 *      one preceded by `<!-- readme-test: vitest -->` is a test file run with vitest (installed
 *      in the consumer project: it is the conformance suite's optional peer); ```ts blocks are
 *      refused (they could not be run);
 *   4. type-checks consumer files with `tsc --strict` (skipLibCheck off) under `nodenext`,
 *      `bundler` and `node10` resolution, and a browser file without Node's types;
 *   5. bundles a browser entry with esbuild (platform browser) and fails if any `node:*` or
 *      Node built-in module is pulled in; prints the minified and gzipped sizes.
 *
 *   node scripts/consumer-test.mjs [--keep]    (--keep leaves the temporary project for a look)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const keep = process.argv.includes('--keep');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--keep');
if (unknown.length > 0) {
  console.error(
    `consumer-test: unknown argument ${unknown[0]} (usage: node scripts/consumer-test.mjs [--keep])`,
  );
  process.exit(2);
}

const PACKAGES = [
  { name: '@parley/core', dir: 'packages/core' },
  { name: '@parley/storage-adapters', dir: 'packages/storage-adapters' },
];
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'parley-consumer-'));
const tarballs = join(work, 'tarballs');
const project = join(work, 'project');
mkdirSync(tarballs);
mkdirSync(project);

function step(title) {
  console.log(`\n── ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function fail(message) {
  console.error(`\nconsumer test FAILED: ${message}`);
  if (!keep) rmSync(work, { recursive: true, force: true });
  else console.error(`(kept ${work})`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    fail(
      `${command} ${args.join(' ')} exited with ${result.status ?? result.signal}\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
  return result.stdout;
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * `console.log(value); // prose → expected` in a README is a checked claim: the printed line
 * (formatted as console.log formats it) must equal the text after the arrow, or the program
 * fails — the comments showing output cannot drift either.
 */
const EXPECT_PRELUDE = `import { format as __readmeFormat } from 'node:util';
const __readmeExpect = (line, expected, ...args) => {
  const printed = __readmeFormat(...args);
  console.log(printed);
  if (printed !== expected) {
    console.error(\`README line \${line}: printed \${JSON.stringify(printed)}, the README says \${JSON.stringify(expected)}\`);
    process.exit(1);
  }
};
`;

function withExpectations(code, firstLine) {
  return code
    .split('\n')
    .map((line, index) => {
      const match = /^(\s*)console\.log\((.*)\);\s*\/\/.*→\s*(.*?)\s*$/.exec(line);
      if (!match) return line;
      const [, indent, args, expected] = match;
      return `${indent}__readmeExpect(${firstLine + index}, ${JSON.stringify(expected)}, ${args});`;
    })
    .join('\n');
}

// ── consumer sources ────────────────────────────────────────────────────────────────

const NODE_CONSUMER = `
import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  type CiphertextMessage,
  type Gateway,
  type GatewayOptions,
  isParleyError,
  type ParleyError,
  type ProtocolAddress,
  SessionManager,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { constantTimeEqual } from '@parley/core/hazmat';
import { assertStore, type StoreTestHooks } from '@parley/core/storage';
import { createTestWorld, ManualClock, type TestWorld } from '@parley/core/testing';
import { createMemoryStore as memoryFromAdapters } from '@parley/storage-adapters/memory';
import { createSqliteStore, type SqliteStoreOptions } from '@parley/storage-adapters/sqlite';
import { createIndexedDbStore } from '@parley/storage-adapters/indexeddb';
import type { BlobStore, InboundMedia, MediaInfo, MediaTransport } from '@parley/core';
import { createFsBlobStore, type FsBlobStoreOptions } from '@parley/storage-adapters/media-fs';

const options: SqliteStoreOptions = { path: 'messages.db', busyTimeoutMs: 1000 };
const store: Store = createSqliteStore(options);
const vaultStore: Store = memoryFromAdapters();
assertStore(store, 'store');
const manager = new SessionManager({ store, crypto: createNodeCrypto(), scope: 'bob' });
const address: ProtocolAddress = { name: 'alice', deviceId: 1 };
export async function roundTrip(message: CiphertextMessage): Promise<Uint8Array> {
  const { plaintext } = await manager.decrypt(address, message);
  return plaintext;
}
export function check(error: unknown): string | undefined {
  if (isParleyError(error, 'ERR_INVALID_MAC')) {
    const typed: ParleyError = error;
    return typed.code;
  }
  return undefined;
}
const gatewayOptions: Partial<GatewayOptions> = { store, vaultStore, keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32) }) };
export const build = (rest: Pick<GatewayOptions, 'transport' | 'directory'>): Gateway =>
  createGateway({ ...(gatewayOptions as Pick<GatewayOptions, 'store' | 'vaultStore' | 'keyProvider'>), ...rest });
export const world: Promise<TestWorld> = createTestWorld({ clock: new ManualClock() });
export const hooks: StoreTestHooks | undefined = undefined;
export const same: boolean = constantTimeEqual(new Uint8Array(1), new Uint8Array(1));
export const browserStore = (factory: { open(name: string): unknown }, range: { bound(a: unknown, b: unknown): unknown; upperBound(a: unknown): unknown }) =>
  createIndexedDbStore({ name: 'x', indexedDB: factory, IDBKeyRange: range });
export const plain = createMemoryStore();
const blobOptions: FsBlobStoreOptions = { root: 'blobs' };
export const blobs: Promise<BlobStore> = createFsBlobStore(blobOptions);
export const withMedia = (transport: MediaTransport, blobStore: BlobStore): Partial<GatewayOptions> => ({
  media: { blobStore, transport, maxBytes: { image: 5_000_000 } },
});
export const facts = (info: MediaInfo, media?: InboundMedia): string => \`\${info.sha256} \${media?.mediaId ?? ''}\`;
`;

const BROWSER_CONSUMER = `
import { createMemoryStore, createPortableCrypto, SessionManager, type Store } from '@parley/core';
import { createSimulatedPerson } from '@parley/core/testing';
import { createIndexedDbStore } from '@parley/storage-adapters/indexeddb';
import { createIndexedDbBlobStore } from '@parley/storage-adapters/media-indexeddb';

export const blobs = createIndexedDbBlobStore({ name: 'parley-media' });

export async function start(): Promise<SessionManager> {
  const store: Store = await createIndexedDbStore({ name: 'parley' });
  const manager = new SessionManager({ store, crypto: createPortableCrypto() });
  await manager.initializeIdentity();
  return manager;
}
export const person = createSimulatedPerson({ phoneNumber: '+15550123' });
export const memory: Store = createMemoryStore();
`;

const BROWSER_SESSIONS_ENTRY = `
export { createMemoryStore, SessionManager } from '@parley/core';
`;

const BROWSER_FULL_ENTRY = `
export * from '@parley/core';
export { createIndexedDbStore } from '@parley/storage-adapters/indexeddb';
`;

// ── 1. Pack ─────────────────────────────────────────────────────────────────────────

step('pack (prepack builds dist/)');
const packed = [];
for (const pkg of PACKAGES) {
  const before = new Set(listDir(tarballs));
  run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(root, pkg.dir) });
  const file = listDir(tarballs).find((name) => !before.has(name));
  if (!file) fail(`pnpm pack wrote no tarball for ${pkg.name}`);
  const path = join(tarballs, file);
  const entries = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' }).trim().split('\n');
  const manifest = JSON.parse(
    execFileSync('tar', ['-xzOf', path, 'package/package.json'], { encoding: 'utf8' }),
  );
  const unpacked = Number(execFileSync('sh', ['-c', `tar -xzOf '${path}' | wc -c`], { encoding: 'utf8' }));
  for (const required of ['package/README.md', 'package/LICENSE', 'package/package.json']) {
    if (!entries.includes(required)) fail(`${pkg.name} tarball lacks ${required}`);
  }
  if (!entries.some((entry) => entry.endsWith('.d.ts.map'))) fail(`${pkg.name} ships no declaration maps`);
  const stray = entries.filter((entry) => /(^|\/)(test|vectors)\//.test(entry) || entry.endsWith('.test.ts'));
  if (stray.length > 0) fail(`${pkg.name} tarball carries test files: ${stray.slice(0, 3).join(', ')}`);
  const ranges = JSON.stringify([manifest.dependencies, manifest.peerDependencies, manifest.devDependencies]);
  if (ranges.includes('workspace:')) fail(`${pkg.name} tarball still has a workspace: range`);
  for (const target of exportTargets(manifest.exports)) {
    if (!entries.includes(`package/${target.replace(/^\.\//, '')}`)) {
      fail(`${pkg.name} exports ${target}, which the tarball does not contain`);
    }
  }
  packed.push({ ...pkg, path, entries: entries.length, size: statSync(path).size, unpacked, manifest });
  console.log(
    `${pkg.name}@${manifest.version}: ${file}, ${kib(statSync(path).size)} packed, ${kib(unpacked)} unpacked, ${entries.length} files`,
  );
}
const adapters = packed.find((p) => p.name === '@parley/storage-adapters').manifest;
if (adapters.peerDependencies?.['@parley/core'] !== `^${packed[0].manifest.version}`) {
  fail(`@parley/storage-adapters should take @parley/core ^${packed[0].manifest.version} as a peer`);
}

// ── 2. Install into a fresh project ──────────────────────────────────────────────────

step('npm install the tarballs into a fresh project outside the workspace');
const workspaceRequire = createRequire(join(root, 'packages/storage-adapters/package.json'));
const sqliteDir = dirname(workspaceRequire.resolve('better-sqlite3/package.json'));
const sqliteVersion = JSON.parse(readFileSync(join(sqliteDir, 'package.json'), 'utf8')).version;
// The PostgreSQL adapter's optional peer, for its README block (it runs against PARLEY_PG_URL).
const pgVersion = JSON.parse(readFileSync(workspaceRequire.resolve('pg/package.json'), 'utf8')).version;
const vitestVersion = JSON.parse(
  readFileSync(createRequire(join(root, 'package.json')).resolve('vitest/package.json'), 'utf8'),
).version;
const nodeTypesVersion = JSON.parse(
  readFileSync(createRequire(join(root, 'package.json')).resolve('@types/node/package.json'), 'utf8'),
).version;
writeFileSync(
  join(project, 'package.json'),
  `${JSON.stringify({ name: 'parley-consumer', private: true, type: 'module' }, null, 2)}\n`,
);
run(
  'npm',
  [
    'install',
    '--ignore-scripts',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    ...packed.map((p) => p.path),
    `better-sqlite3@${sqliteVersion}`,
    `pg@${pgVersion}`,
    `@types/node@${nodeTypesVersion}`,
    `vitest@${vitestVersion}`,
  ],
  { cwd: project },
);
// The workspace compiled better-sqlite3 for this Node already; the consumer reuses that binary.
cpSync(join(sqliteDir, 'build'), join(project, 'node_modules/better-sqlite3/build'), { recursive: true });
for (const pkg of PACKAGES) {
  const installed = join(project, 'node_modules', pkg.name);
  if (!existsSync(join(installed, 'dist/index.js')) && pkg.name === '@parley/core') {
    fail('@parley/core installed without dist/index.js');
  }
}
console.log(`installed; better-sqlite3 ${sqliteVersion} uses the workspace's compiled binary`);

// ── 3. README code blocks, run with plain node ──────────────────────────────────────

step('README code blocks with plain node');
const readmes = [
  { label: 'README.md', text: readFileSync(join(root, 'README.md'), 'utf8') },
  ...PACKAGES.map((pkg) => ({
    label: `${pkg.name}/README.md (as packed)`,
    text: readFileSync(join(project, 'node_modules', pkg.name, 'README.md'), 'utf8'),
  })),
];
let programs = 0;
let blocks = 0;
for (const readme of readmes) {
  const chains = extractPrograms(readme.label, readme.text);
  for (const [index, chain] of chains.entries()) {
    const cwd = join(work, `run-${programs}`);
    mkdirSync(cwd);
    let result;
    if (chain.mode === 'vitest') {
      const file = `readme-${programs}.test.js`;
      writeFileSync(join(project, file), chain.code);
      const vitest = join(project, 'node_modules/vitest/vitest.mjs');
      result = spawnSync(process.execPath, [vitest, 'run', file], {
        cwd: project,
        encoding: 'utf8',
        timeout: 180_000,
        env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      });
    } else {
      const file = join(project, `readme-${programs}.mjs`);
      writeFileSync(file, chain.code);
      // Each program runs in its own empty folder (files it creates stay there), importing
      // from the consumer project's node_modules.
      result = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 120_000 });
    }
    const where = `${readme.label}, program ${index + 1} (lines ${chain.lines})`;
    if (result.status !== 0) {
      fail(`${where} exited with ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`);
    }
    const passed = chain.mode === 'vitest' ? ` — ${/Tests\s+(.*)/.exec(result.stdout)?.[1]?.trim()}` : '';
    console.log(`ok  ${where}: ${chain.blocks} block(s), ${chain.mode}${passed}`);
    programs += 1;
    blocks += chain.blocks;
  }
}
if (programs === 0) fail('no ```js blocks found in the READMEs');
console.log(`${blocks} blocks in ${programs} programs ran`);

// ── 4. TypeScript consumers ─────────────────────────────────────────────────────────

step('tsc --strict under nodenext, bundler and node10');
writeFileSync(join(project, 'node-consumer.ts'), NODE_CONSUMER);
writeFileSync(join(project, 'browser-consumer.ts'), BROWSER_CONSUMER);
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
const common = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', esModuleInterop: true };
const configs = {
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], lib: ['ES2022'] },
  bundler: { module: 'esnext', moduleResolution: 'bundler', types: ['node'], lib: ['ES2022'] },
  node10: { module: 'commonjs', moduleResolution: 'node10', types: ['node'], lib: ['ES2022'] },
  'browser (bundler, DOM, no Node types)': {
    module: 'esnext',
    moduleResolution: 'bundler',
    types: [],
    lib: ['ES2022', 'DOM'],
  },
};
for (const [name, options] of Object.entries(configs)) {
  const file = name.startsWith('browser') ? 'browser-consumer.ts' : 'node-consumer.ts';
  const config = join(project, `tsconfig.${name.split(' ')[0]}.json`);
  writeFileSync(
    config,
    JSON.stringify({ compilerOptions: { ...common, ...options }, files: [file] }, null, 2),
  );
  const result = spawnSync(process.execPath, [tsc, '-p', config], { cwd: project, encoding: 'utf8' });
  if (result.status !== 0) fail(`tsc (${name}) failed:\n${result.stdout}${result.stderr}`);
  console.log(`ok  ${name}`);
}

// ── 5. Browser bundle ───────────────────────────────────────────────────────────────

step('esbuild browser bundle (no node:* allowed)');
const esbuild = createRequire(join(root, 'packages/examples/package.json'))('esbuild');
const bundles = {
  'sessions only (SessionManager, memory store, portable crypto)': BROWSER_SESSIONS_ENTRY,
  'core + IndexedDB adapter (everything a browser imports)': BROWSER_FULL_ENTRY,
};
const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
for (const [name, source] of Object.entries(bundles)) {
  const result = await esbuild
    .build({
      stdin: { contents: source, resolveDir: project, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [
        {
          name: 'refuse-node-builtins',
          setup(build) {
            build.onResolve({ filter: /.*/ }, (args) =>
              nodeBuiltins.has(args.path) || args.path.startsWith('node:')
                ? { errors: [{ text: `${args.importer} imports ${args.path}, a Node built-in` }] }
                : undefined,
            );
          },
        },
      ],
    })
    .catch((error) => fail(`esbuild (${name}): ${error.message}`));
  const code = result.outputFiles[0].contents;
  const inputs = Object.keys(result.metafile.inputs);
  const fromCore = inputs.filter((input) => input.includes('@parley/core'));
  if (fromCore.some((input) => input.includes('crypto/node') || input.includes('default-node'))) {
    fail(`${name}: the browser bundle resolved the node:crypto provider`);
  }
  console.log(
    `ok  ${name}: ${kib(code.length)} minified, ${kib(gzipSync(code).length)} gzipped (${inputs.length} modules)`,
  );
}

step(`consumer test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (keep) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });

// ── helpers ─────────────────────────────────────────────────────────────────────────

function listDir(dir) {
  return execFileSync('ls', ['-1', dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** Every file an `exports` map points at for plain Node (`default` and `types` targets). */
function exportTargets(exports) {
  const out = [];
  const walk = (value, key) => {
    if (typeof value === 'string') {
      if (key === 'default' || key === 'types' || key === 'import') out.push(value);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) if (k !== 'parley-source') walk(v, k);
    }
  };
  walk(exports, '');
  return out;
}

/**
 * Splits a README into programs: each ```js block starts one, unless the line before its fence
 * is `<!-- readme-test: continues -->`, which appends it to the program before.
 */
function extractPrograms(label, text) {
  const lines = text.split('\n');
  const programs = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const lang = fence[1];
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (end >= lines.length) fail(`${label}: unclosed code block at line ${i + 1}`);
    const code = lines.slice(i + 1, end).join('\n');
    if (lang === 'ts' || lang === 'typescript') {
      fail(
        `${label}: line ${i + 1} is a \`\`\`${lang} block; README code must run as written (use \`\`\`js)`,
      );
    }
    if (lang === 'js' || lang === 'javascript' || lang === 'mjs') {
      const marker = /^<!--\s*readme-test:\s*(\w+)\s*-->\s*$/.exec(lines[i - 1] ?? '')?.[1];
      if (marker !== undefined && marker !== 'continues' && marker !== 'vitest') {
        fail(`${label}: unknown readme-test marker "${marker}" at line ${i}`);
      }
      const continues = marker === 'continues';
      const previous = programs.at(-1);
      if (continues) {
        if (!previous) fail(`${label}: line ${i + 1} continues a program, but none came before`);
        previous.code += `\n// ── ${label}, line ${i + 1}\n${withExpectations(code, i + 2)}\n`;
        previous.blocks += 1;
        previous.lines = `${previous.lines.split('–')[0]}–${end + 1}`;
      } else {
        programs.push({
          code: `${EXPECT_PRELUDE}// ${label}, line ${i + 1}\n${withExpectations(code, i + 2)}\n`,
          blocks: 1,
          lines: `${i + 1}–${end + 1}`,
          mode: marker === 'vitest' ? 'vitest' : 'node',
        });
      }
    }
    i = end;
  }
  return programs;
}
