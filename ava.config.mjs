// ava's configuration (moved here from package.json for sortTestFiles, which must be a function).
// The files under test/integration/full-build/ share one build and take turns holding its lock
// (test/helpers/shared-build.ts). The first of them starts at once and makes the build; the
// others come after every other file, so a file waiting for the lock never holds one of the two
// slots the unit, kernel and other integration files need meanwhile.
const SHARED = '/test/integration/full-build/';
const rank = (f) => (!f.includes(SHARED) ? 1 : f.endsWith('/toolchain.test.ts') ? 0 : 2);

export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  files: ['test/**/*.test.ts'],
  timeout: '45m',
  concurrency: 2,
  workerThreads: false,
  sortTestFiles: (a, b) => rank(a) - rank(b) || a.localeCompare(b, [], { numeric: true }),
};
