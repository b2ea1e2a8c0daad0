// `treescale publish` says how many subscribers received the event, counted across a tree of real node
// processes from every node's own report (exact, or a lower bound naming the node that did not report),
// and --wait-for-subscriber publishes once one is reachable, or fails naming the event and the deadline.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveContext, useContext } from "../../src/state/contexts.js";
import { BusFixture, inbox, type NodeProcess, sync, until } from "../support/bus.js";
import { runCli, scratch, startCli } from "../support/cli.js";
import { uniqueNodeName } from "../support/docker.js";
import { eventually } from "../support/poll.js";

const fixture = new BusFixture();
let root: NodeProcess;
let mid: NodeProcess;
let side: NodeProcess;
let leaf: NodeProcess;

const env = { TREESCALE_TOKEN: "good-token" };

/** The next message of `event`, skipping others (a `*` subscriber also sees the sync publishes). */
async function nextOf(messages: ReturnType<typeof inbox>, event: string) {
  for (;;) {
    const message = await messages.next();
    if (message.event === event) return message;
  }
}
const publish = (node: NodeProcess, args: string[]) =>
  runCli(["publish", ...args, "--node", node.url], { env });

beforeAll(async () => {
  await fixture.setup();
  ({ root, mid, side, leaf } = await fixture.startTree());
}, 60_000);

afterAll(() => fixture.teardown());

describe("publish — subscribers reached", () => {
  it("counts the subscribers on every node the event reached, exactly, in text and -o json", async () => {
    const everything = await fixture.client(leaf, { events: ["*"] });
    const subscribers = [
      inbox(await fixture.client(root, { events: ["deploy", "sync"] })),
      inbox(await fixture.client(mid, { events: ["deploy", "sync"] })),
      inbox(await fixture.client(leaf, { events: ["deploy", "sync"] })),
      inbox(everything),
    ];
    // Not a subscriber of deploy: neither counted nor sent anything.
    const bystander = inbox(await fixture.client(side, { events: ["other", "sync"] }));
    await sync(await fixture.client(root), [...subscribers, bystander]);

    const text = await publish(leaf, ["deploy", "--data", "v2"]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toBe("4\n");
    for (const subscriber of subscribers) expect((await nextOf(subscriber, "deploy")).text()).toBe("v2");

    const json = await publish(root, ["deploy", "--data", "v3", "-o", "json"]);
    expect(json.code).toBe(0);
    const document = JSON.parse(json.stdout) as {
      subscribers: number;
      exact: boolean;
      nodes: { node: string; subscribers: number; forwardedTo: string[] }[];
      unreported: string[];
    };
    expect(document).toMatchObject({ event: "deploy", subscribers: 4, exact: true, unreported: [] });
    // side has no subscriber of deploy: the event never went there, so side neither reports nor counts.
    expect(Object.fromEntries(document.nodes.map((n) => [n.node, n.subscribers]))).toEqual({
      root: 1,
      mid: 1,
      leaf: 2,
    });
    expect(document.nodes.find((n) => n.node === "root")?.forwardedTo).toEqual(["mid"]);
    expect(bystander.messages.filter((m) => m.event === "deploy")).toEqual([]);
    // A subscriber of every event counts for every event: the other tests want it gone, everywhere.
    await everything.close();
    const probe = await fixture.client(root);
    await until(
      async () => (await probe.publishCounted("deploy", "", {}, { probe: true })).subscribers === 3,
      10_000,
      "the * subscriber's interest to leave the tree",
    );
  });

  it("says 0 when nobody subscribes, and a target narrows the count", async () => {
    const none = await publish(mid, ["nobody-listens"]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe("0\n");
    const tagged = inbox(await fixture.client(side, { events: ["tagged", "sync"], tags: ["edge"] }));
    const untagged = inbox(await fixture.client(side, { events: ["tagged", "sync"] }));
    await sync(await fixture.client(leaf), [tagged, untagged]);
    const result = await publish(leaf, ["tagged", "--tag", "edge"]);
    expect(result.stdout).toBe("1\n");
  });

  it("a node that got the event and does not report makes the count a lower bound, naming that node", async () => {
    // A parent that judges its links over seconds, so that a stopped child stays linked while we publish.
    const slow = await fixture.startNode("slow-parent", ["--heartbeat", "5000"]);
    const stopped = await fixture.startNode("stopped", ["--parent", slow.url, "--heartbeat", "5000"]);
    await slow.waitForLog(/child node linked node="stopped"/);
    const near = inbox(await fixture.client(slow, { events: ["frozen", "sync"] }));
    const far = inbox(await fixture.client(stopped, { events: ["frozen", "sync"] }));
    await sync(await fixture.client(slow), [near, far]);
    stopped.process.kill("SIGSTOP");
    try {
      const result = await runCli(
        ["publish", "frozen", "--node", slow.url, "--connect-timeout", "2", "-o", "json"],
        { env },
      );
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({
        subscribers: 1,
        exact: false,
        unreported: ["stopped"],
      });
      expect(result.stderr).toContain("did not report within 2 s (stopped): 1 is a lower bound");
    } finally {
      stopped.process.kill("SIGCONT");
    }
    // Once it runs again, it delivers what it was sent.
    expect((await far.next()).event).toBe("frozen");
  });
});

describe("publish --wait-for-subscriber", () => {
  it("waits until a subscriber anywhere in the tree is reachable, then publishes once", async () => {
    const publishing = startCli(
      ["publish", "late", "--data", "hello", "--wait-for-subscriber", "--wait-timeout", "30"],
      { ...env, TREESCALE_NODE: root.url },
    );
    await eventually(
      async () => (publishing.stderr().includes('for a subscriber of "late"') ? true : undefined),
      15_000,
    );
    const late = inbox(await fixture.client(leaf, { events: ["late"] }));
    const result = await publishing.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("1\n");
    expect((await late.next()).text()).toBe("hello");
    // Probing delivered nothing: the one message is the publish.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(late.messages).toEqual([]);
  }, 40_000);

  it("with nobody subscribed, fails after --wait-timeout naming the event and the deadline, publishing nothing", async () => {
    const started = Date.now();
    const result = await runCli(
      ["publish", "never", "--wait-for-subscriber", "--wait-timeout", "1", "--node", root.url],
      { env },
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain('no subscriber of "never" was reachable within 1 s (--wait-timeout)');
    expect(result.stderr).toContain("nothing was published");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("Ctrl-C during publish --wait-for-subscriber", () => {
  it("ends the wait at once with 130, saying nothing was published", async () => {
    const publishing = startCli(
      ["publish", "nobody", "--wait-for-subscriber", "--wait-timeout", "30", "--node", root.url],
      env,
    );
    await eventually(
      async () => (publishing.stderr().includes('for a subscriber of "nobody"') ? true : undefined),
      15_000,
    );
    const at = Date.now();
    publishing.child.kill("SIGINT");
    const result = await publishing.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(
      'interrupted while waiting for a subscriber of "nobody": nothing was published',
    );
    expect(Date.now() - at).toBeLessThan(3000);
  }, 40_000);
});

/** `treescale events ARGS` running until stop(), once it has said where it is connected. */
async function startEvents(args: string[], local: Record<string, string>) {
  const events = startCli(["events", ...args], local);
  try {
    await eventually(async () => (events.stderr().includes("connected to") ? true : undefined), 30_000);
  } catch (error) {
    events.child.kill("SIGKILL");
    throw error;
  }
  return {
    out: events.stdout,
    err: events.stderr,
    async stop() {
      events.child.kill("SIGINT");
      await events.done;
    },
  };
}

describe("publish on the embedded node", () => {
  it("without --node, events on the embedded node receives what publish sends; with nobody running it, 0", async () => {
    const home = await scratch();
    const name = uniqueNodeName("pub");
    const local = { TREESCALE_HOME: join(home.dir, "home") };
    const events = await startEvents(["--name", name, "--event", "hello"], local);
    try {
      const sent = await runCli(["publish", "hello", "--name", name, "--data", "from publish"], {
        env: local,
      });
      expect(sent.stderr).toBe("");
      expect(sent.code).toBe(0);
      expect(sent.stdout).toBe("1\n");
      await eventually(async () => (events.out().includes("from publish") ? true : undefined), 10_000);
      expect(events.out()).toMatch(new RegExp(`^hello from=${name} from publish$`, "m"));
    } finally {
      await events.stop();
    }
    // Nobody runs it now: publish runs it for itself (read-only, acting on nothing), and nobody listens.
    const alone = await runCli(["publish", "hello", "--name", name], { env: local });
    expect(alone.code).toBe(0);
    expect(alone.stdout).toBe("0\n");
    await home.remove();
  }, 60_000);
});

describe("publish and events without --node, with a tree recorded as the current context", () => {
  it("talk to that tree's root with its token, as the other verbs do (not to the embedded node)", async () => {
    const home = await scratch();
    const local = { TREESCALE_HOME: join(home.dir, "home") };
    await saveContext(local.TREESCALE_HOME, {
      name: "lab",
      node: root.url,
      token: "good-token",
      servers: [],
      builtAt: new Date().toISOString(),
    });
    await useContext(local.TREESCALE_HOME, "lab");
    const events = await startEvents(["--event", "ctx"], local);
    try {
      expect(events.err()).toContain(`connected to ${root.name}`);
      const leafInbox = inbox(await fixture.client(leaf, { events: ["ctx", "sync"] }));
      await sync(await fixture.client(root, { events: [] }), [leafInbox]);
      const sent = await runCli(["publish", "ctx", "--data", "through the context"], { env: local });
      expect(sent.stderr).toBe("");
      expect(sent.code).toBe(0);
      // The events command on the root and the client on the leaf.
      expect(sent.stdout).toBe("2\n");
      expect((await leafInbox.next()).text()).toBe("through the context");
      await eventually(async () => (events.out().includes("through the context") ? true : undefined), 10_000);
    } finally {
      await events.stop();
    }
    await home.remove();
  }, 60_000);
});
