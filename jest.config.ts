import type { Config } from 'jest';

// Integration tests share one Datastore emulator (started by globalSetup unless
// DATASTORE_EMULATOR_HOST is set) and each uses its own namespaces, so files may run in
// parallel. jose 6 ships ES modules only: ts-jest compiles it to CommonJS with the rest.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', moduleResolution: 'node10', isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  setupFiles: ['<rootDir>/test/support/env.ts'],
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
