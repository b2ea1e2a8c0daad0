// The Docker driver against the real dockerd keeps the ContainerEngine contract.
import { DockerEngine } from "../../src/drivers/docker.js";
import { describeContainerEngineContract } from "../contract/container-engine.contract.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";

describeContainerEngineContract("DockerEngine against dockerd", async () => {
  await ensureTestImage();
  const nodes = [uniqueNodeName("contract"), uniqueNodeName("contract-other")] as const;
  return {
    engine: new DockerEngine(),
    nodes,
    image: TEST_IMAGE,
    command: ["sleep", "300"],
    missingImage: "local/treescale-missing:0",
    cleanup: async () => {
      await Promise.all(nodes.map((node) => removeContainersOfNode(node)));
    },
  };
});
