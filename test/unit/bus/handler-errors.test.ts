// A request handler that throws or rejects answers with an error reply (REPLY flag 2): its requester
// fails at once with RequestHandlerError carrying the handler's message, on a client as on a node.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RequestHandlerError } from "../../../src/bus/client/index.js";
import { decodeReplyError, encodeReplyError } from "../../../src/bus/protocol/index.js";
import { MemoryBus } from "../../support/memory-bus.js";

let bus: MemoryBus;
beforeEach(() => {
  bus = new MemoryBus();
});
afterEach(() => bus.teardown());

class DiskFullError extends Error {
  readonly code = "DISK_FULL";
}

/** Runs `request` and returns its rejection and how long it took. */
async function rejection(request: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = Date.now();
  try {
    await request();
  } catch (error) {
    return { error, elapsedMs: Date.now() - started };
  }
  throw new Error("expected the request to fail");
}

describe("handler errors — a node's handler", () => {
  it("that throws makes the client's request reject with the handler's message, not time out", async () => {
    const node = bus.node("n1");
    node.handle("status", () => {
      throw new Error("inventory not loaded yet");
    });
    const client = await bus.client(node);
    const { error, elapsedMs } = await rejection(() => client.request("status", {}, undefined, 5000));
    expect(error).toBeInstanceOf(RequestHandlerError);
    expect(error).toMatchObject({
      name: "RequestHandlerError",
      code: "HANDLER_FAILED",
      event: "status",
      responder: "n1",
      handlerMessage: "inventory not loaded yet",
      handlerCode: undefined,
      message: 'the "status" handler on node n1 failed: inventory not loaded yet',
    });
    expect(elapsedMs).toBeLessThan(2500);
    expect(bus.logs).toContainEqual(
      expect.objectContaining({
        level: "error",
        message: "request handler failed",
        fields: { event: "status", error: "inventory not loaded yet" },
      }),
    );
  });

  it("that rejects passes its error's code along", async () => {
    const node = bus.node("n1");
    node.handle("apply", async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new DiskFullError("no space left on /var/lib/docker");
    });
    const client = await bus.client(node);
    await expect(client.request("apply", {}, "{}", 5000)).rejects.toMatchObject({
      handlerMessage: "no space left on /var/lib/docker",
      handlerCode: "DISK_FULL",
      message: 'the "apply" handler on node n1 failed: no space left on /var/lib/docker (DISK_FULL)',
    });
  });

  it("that throws a non-Error still answers, with its text", async () => {
    const node = bus.node("n1");
    node.handle("odd", () => {
      throw "plain string";
    });
    const client = await bus.client(node);
    await expect(client.request("odd", {}, undefined, 5000)).rejects.toMatchObject({
      handlerMessage: "plain string",
    });
  });

  it("fails the node's own in-process request the same way", async () => {
    const node = bus.node("n1");
    node.handle("local", () => Promise.reject(new Error("nope")));
    await expect(node.request("local", {}, undefined, 5000)).rejects.toMatchObject({
      name: "RequestHandlerError",
      handlerMessage: "nope",
    });
  });
});

describe("handler errors — a client's handler", () => {
  it("answers requests with what it returns, and with an error reply when it throws", async () => {
    const node = bus.node("n1");
    const worker = await bus.client(node);
    const stop = await worker.handle("work", (request) => {
      if (request.text() === "bad") throw new Error(`cannot do ${request.text()}`);
      return `did ${request.text()}`;
    });
    const requester = await bus.client(node);
    expect((await requester.request("work", {}, "good", 5000)).text()).toBe("did good");
    await expect(requester.request("work", {}, "bad", 5000)).rejects.toMatchObject({
      code: "HANDLER_FAILED",
      handlerMessage: "cannot do bad",
    });
    await expect(node.request("work", {}, "bad", 5000)).rejects.toBeInstanceOf(RequestHandlerError);
    stop();
  });

  it("reaches a requester across a node link with the error intact", async () => {
    const parent = bus.node("parent");
    const child = bus.node("child");
    await bus.link(parent, child);
    const worker = await bus.client(child, { tags: ["web"] });
    await worker.handle("deploy", () => Promise.reject(new DiskFullError("disk full on child")));
    const requester = await bus.client(parent);
    let error: unknown;
    // Interest reaches the parent in its own time: ask until the request finds the worker.
    do {
      error = await requester.request("deploy", { tag: "web" }, undefined, 5000).catch((caught) => caught);
    } while ((error as { code?: string }).code === "no_responders");
    expect(error).toMatchObject({
      code: "HANDLER_FAILED",
      responder: "child",
      handlerMessage: "disk full on child",
      handlerCode: "DISK_FULL",
    });
  });

  it("can answer a request with an error by hand through message.replyError", async () => {
    const node = bus.node("n1");
    const worker = await bus.client(node, { events: ["check"] });
    worker.onMessage((message) => message.replyError?.(new Error("refused by policy")));
    const requester = await bus.client(node);
    await expect(requester.request("check", {}, undefined, 5000)).rejects.toMatchObject({
      handlerMessage: "refused by policy",
    });
  });
});

describe("handler errors — requestMany", () => {
  it("returns the successful replies, counting failed ones toward max, so it ends without waiting the timeout", async () => {
    const node = bus.node("n1");
    const good = await bus.client(node, { groups: ["all"] });
    await good.handle("who", () => "good");
    const bad = await bus.client(node, { groups: ["all"] });
    await bad.handle("who", () => {
      throw new Error("bad");
    });
    const requester = await bus.client(node);
    const started = Date.now();
    const replies = await requester.requestMany("who", { group: "all" }, undefined, 5000, 2);
    expect(replies.map((reply) => reply.text())).toEqual(["good"]);
    expect(Date.now() - started).toBeLessThan(2500);
    const fromNode = await node.requestMany("who", { group: "all" }, undefined, 5000, 2);
    expect(fromNode.map((reply) => reply.text())).toEqual(["good"]);
  });

  it("rejects with the first failure when every reply was an error", async () => {
    const node = bus.node("n1");
    for (const name of ["a", "b"]) {
      const worker = await bus.client(node, { groups: ["all"] });
      await worker.handle("who", () => {
        throw new Error(`${name} failed`);
      });
    }
    const requester = await bus.client(node);
    await expect(requester.requestMany("who", { group: "all" }, undefined, 5000, 2)).rejects.toMatchObject({
      handlerMessage: expect.stringMatching(/^[ab] failed$/),
    });
  });
});

describe("handler errors — reply payload", () => {
  it("keeps a huge message to 4096 characters, so the reply stays a small frame", () => {
    const body = decodeReplyError(encodeReplyError(new Error("x".repeat(100_000))));
    expect(body.message).toHaveLength(4096);
  });

  it("reads an error reply that is plain text, from another implementation, as its message", () => {
    expect(decodeReplyError(new TextEncoder().encode("it broke"))).toEqual({ message: "it broke" });
  });
});
