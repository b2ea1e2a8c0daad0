import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/manifest/limits.js";
import { loadText } from "./support.js";

describe("limits", () => {
  it("refuses a billion replicas at the field, in every language, saying the limit and the way past it", async () => {
    const texts = {
      "web.toml": '[containers.web]\nimage = "i"\nreplicas = 1000000000\n',
      "web.json": '{"containers": {"web": {"image": "i",\n  "replicas": 1000000000}}}',
      "web.yaml": "containers:\n  web:\n    image: i\n    replicas: 1000000000\n",
    };
    const where = { "web.toml": "3:1", "web.json": "2:3", "web.yaml": "4:5" };
    for (const [file, text] of Object.entries(texts)) {
      const { issues, messages } = await loadText(file, text);
      expect(messages).toEqual([
        `${file}:${where[file as keyof typeof where]}: containers.web.replicas: at most 10000 replicas per container; declare more of the same as another container, got 1000000000`,
      ]);
      expect(issues[0]?.code).toBe("INVALID_VALUE");
    }
  });

  it("keeps the whole-number message for a value that is not one", async () => {
    const { messages } = await loadText("web.toml", '[containers.web]\nimage = "i"\nreplicas = inf\n');
    expect(messages).toEqual([
      "web.toml:3:1: containers.web.replicas: expected a whole number ≥ 0, got Infinity",
    ]);
  });

  it("refuses more replicas per apply than the limit at the container that crosses it", async () => {
    const count = LIMITS.replicasPerApply / LIMITS.replicasPerContainer + 1;
    const text = Array.from(
      { length: count },
      (_, index) => `[containers.c${index}]\nimage = "i"\nreplicas = ${LIMITS.replicasPerContainer}\n`,
    ).join("");
    const { issues, messages } = await loadText("many.toml", text);
    const last = count - 1;
    expect(messages).toEqual([
      `many.toml:${last * 3 + 3}:1: containers.c${last}.replicas: brings the replicas to ${count * LIMITS.replicasPerContainer}; one apply takes at most ${LIMITS.replicasPerApply}: split the containers into several stacks (\`stack = "…"\`) and apply each`,
    ]);
    expect(issues[0]?.code).toBe("LIMIT_EXCEEDED");
  });

  it("counts no replicas for global containers, whose count is the matching nodes", async () => {
    const text = Array.from(
      { length: 11 },
      (_, index) =>
        `[containers.c${index}]\nimage = "i"\nmode = "global"\nreplicas = ${LIMITS.replicasPerContainer}\n`,
    ).join("");
    expect((await loadText("global.toml", text)).issues).toEqual([]);
  });

  it("refuses more resources per apply than the limit at the first one past it", async () => {
    const count = LIMITS.resourcesPerApply + 1;
    const text = Array.from({ length: count }, (_, index) => `[containers.c${index}]\nimage = "i"\n`);
    const { issues, messages } = await loadText("many.toml", text.join(""));
    expect(messages).toEqual([
      `many.toml:${count * 2 - 1}:1: containers.c${count - 1}: the manifests declare ${count} resources; one apply takes at most ${LIMITS.resourcesPerApply}: split them into several stacks (\`stack = "…"\`) and apply each`,
    ]);
    expect(issues[0]?.code).toBe("LIMIT_EXCEEDED");
  });
});
