import { describe, expect, it } from "vitest";
import { evaluateReadiness } from "../../../../controllers/container/readiness.js";
import { running, spec } from "./fixtures.js";

const web = spec("web", { replicas: 2 });
const checked = spec("web", { replicas: 2, healthcheck: { test: ["CMD", "true"] } });

describe("evaluateReadiness", () => {
  it("is Ready when every wanted replica runs", () => {
    const result = evaluateReadiness({ spec: web, replicas: [1, 2] }, [
      running("n", web, 1),
      running("n", web, 2),
    ]);
    expect(result).toEqual({
      condition: "Ready",
      reason: "Converged",
      message: "2/2 replicas running",
      ready: 2,
    });
  });

  it("ignores replicas of other resources and replicas not wanted here", () => {
    const other = spec("api");
    const result = evaluateReadiness({ spec: web, replicas: [1] }, [
      running("n", web, 1),
      running("n", web, 3),
      running("n", other, 1),
    ]);
    expect(result).toMatchObject({ condition: "Ready", ready: 1, message: "1/1 replicas running" });
  });

  it("waits while health checks are starting, and looks again soon", () => {
    const starting = { ...running("n", checked, 1), health: "starting" as const };
    const healthy = { ...running("n", checked, 2), health: "healthy" as const };
    expect(evaluateReadiness({ spec: checked, replicas: [1, 2] }, [starting, healthy])).toMatchObject({
      condition: "Reconciling",
      reason: "WaitingForHealthy",
      message: "1/2 replicas healthy",
      ready: 1,
      recheckAfterMs: 500,
    });
  });

  it("stalls, naming the containers, when a health check fails", () => {
    const sick = { ...running("n", checked, 1), health: "unhealthy" as const };
    expect(evaluateReadiness({ spec: checked, replicas: [1] }, [sick])).toMatchObject({
      condition: "Stalled",
      reason: "Unhealthy",
      message: "shop_web_1_n failing health checks",
    });
  });

  it("counts a stopped container as not ready", () => {
    expect(evaluateReadiness({ spec: web, replicas: [1] }, [running("n", web, 1, "exited")])).toMatchObject({
      condition: "Reconciling",
      ready: 0,
    });
  });
});
