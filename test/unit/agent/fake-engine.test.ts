// The in-memory engine the agent's unit tests use keeps the ContainerEngine contract Docker keeps.
import { describeContainerEngineContract } from "../../contract/container-engine.contract.js";
import { FakeClock } from "../../support/fake-clock.js";
import { FakeEngine } from "./fake-engine.js";

describeContainerEngineContract("FakeEngine", async () => {
  const engine = new FakeEngine(new FakeClock());
  const missingImage = "local/treescale-missing:0";
  engine.missingImages.add(missingImage);
  return {
    engine,
    nodes: ["n1", "n2"],
    image: "local/busybox:1",
    command: ["sleep", "300"],
    missingImage,
    cleanup: async () => undefined,
  };
});
