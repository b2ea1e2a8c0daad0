// A container spec with the loader's defaults, for tests that build specs by hand.
import type { ContainerSpec } from "../../src/model/resources.js";

export function containerSpec(name: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name,
    image: "local/busybox:1",
    replicas: 1,
    mode: "replicated",
    env: {},
    ports: [],
    volumes: [],
    labels: {},
    restart: "no",
    placement: {},
    heal: true,
    update: { maxParallel: 1, order: "stop-first", failureAction: "pause" },
    ...overrides,
  };
}
