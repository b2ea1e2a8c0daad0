import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration and e2e suites share one dockerd and loopback ports; files run in parallel
    // but each file cleans up only what it labelled, so they do not collide.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
