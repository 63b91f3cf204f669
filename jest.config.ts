import type { Config } from 'jest';

// Two projects: `unit` needs neither Java nor gcloud (`npx jest --selectProjects unit`);
// `integration` shares one Datastore emulator (started by globalSetup unless
// DATASTORE_EMULATOR_HOST is set), each file in namespaces of its own, so files may run in
// parallel. jose 6 ships ES modules only: ts-jest compiles it to CommonJS with the rest.
const common = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', moduleResolution: 'node10', isolatedModules: true } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  setupFiles: ['<rootDir>/test/support/env.ts'],
} satisfies Config;

const config: Config = {
  testTimeout: 30_000,
  maxWorkers: 2,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    },
  ],
};

export default config;
