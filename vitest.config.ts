import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

const conditions = ['source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{packages,examples,tools}/*/test/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/test/netns/**'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'netns',
          include: ['{packages,examples,tools}/*/test/netns/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          globalSetup: ['tools/scripts/netns-global-setup.ts'],
        },
      },
    ],
  },
});
