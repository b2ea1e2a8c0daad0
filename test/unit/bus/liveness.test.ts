// Heartbeats judged in awake time: a process that stalls must not drop healthy peers whose frames are
// waiting unread, while a peer that is really silent is still dropped after 3 heartbeats.
import { describe, expect, it } from "vitest";
import { BusClient, BusError, type Transport } from "../../../src/bus/client/index.js";
import { AwakeClock, SilenceMeter } from "../../../src/bus/liveness.js";
import { encodeControl, FrameType } from "../../../src/bus/protocol/index.js";

describe("silence meter", () => {
  it("counts wall time while the detector ticks on schedule", () => {
    const clock = new AwakeClock(25, 0);
    const meter = new SilenceMeter(0);
    let silence = 0;
    for (let now = 25; now <= 325; now += 25) silence = meter.measure(0, now, clock.advance(now));
    expect(silence).toBe(325);
  });

  it("credits a late tick with at most two ticks, so our own stall is not the peer's silence", () => {
    const clock = new AwakeClock(25, 0);
    const meter = new SilenceMeter(0);
    expect(meter.measure(0, 25, clock.advance(25))).toBe(25);
    // The process was stopped for 2 s: the next check counts 50 ms, not 2000.
    expect(meter.measure(0, 2025, clock.advance(2025))).toBe(75);
  });

  it("restarts from the last frame heard since the previous check", () => {
    const clock = new AwakeClock(25, 0);
    const meter = new SilenceMeter(0);
    meter.measure(0, 200, clock.advance(200));
    expect(meter.measure(210, 225, clock.advance(225))).toBe(15);
  });

  it("does not count a stall that began right after the last frame", () => {
    const clock = new AwakeClock(25, 0);
    const meter = new SilenceMeter(0);
    meter.measure(0, 25, clock.advance(25));
    // Heard at 30, then stopped until 630: the frames sent meanwhile are still unread.
    expect(meter.measure(30, 630, clock.advance(630))).toBe(50);
  });
});

/** A transport whose node side the test drives: `receive` hands the client bytes as a socket would. */
function fakeTransport(): { transport: Transport; receive(bytes: Uint8Array): void; closed: boolean } {
  const listeners: ((chunk: Uint8Array) => void)[] = [];
  const closers: ((error?: Error) => void)[] = [];
  const fake = {
    closed: false,
    receive: (bytes: Uint8Array) => {
      for (const listener of listeners) listener(bytes);
    },
    transport: {
      send: () => {},
      bufferedBytes: () => 0,
      drained: () => Promise.resolve(),
      close: () => {
        fake.closed = true;
        for (const closer of closers) closer();
      },
      onData: (listener: (chunk: Uint8Array) => void) => listeners.push(listener),
      onClose: (listener: (error?: Error) => void) => closers.push(listener),
    } satisfies Transport,
  };
  return fake;
}

async function connectedClient() {
  const fake = fakeTransport();
  const connecting = BusClient.connect({
    url: "fake:1",
    reconnect: false,
    transport: async () => fake.transport,
  });
  await new Promise((resolve) => setImmediate(resolve));
  fake.receive(
    encodeControl(FrameType.ready, { node: "n", connection: 1, heartbeatMs: 100, maxFrameBytes: 1 << 20 }),
  );
  return { client: await connecting, fake };
}

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // The client's event loop is stuck, as when its process is starved of CPU.
  }
}

describe("client heartbeats", () => {
  it("a stall of the client's own event loop does not drop a node whose pings wait unread", async () => {
    const { client, fake } = await connectedClient();
    const ping = encodeControl(FrameType.ping);
    const pinger = setInterval(() => fake.receive(ping), 50);
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        // The node's ping is already queued behind the stall; on wake-up, timers run before it.
        setImmediate(() => fake.receive(ping));
        busyWait(600);
        resolve();
      }, 60),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    clearInterval(pinger);
    expect(fake.closed).toBe(false);
    expect(client.isReady).toBe(true);
    await client.close();
  });

  it("a node silent for 3 heartbeats is dropped with heartbeat_timeout", async () => {
    const { client } = await connectedClient();
    const started = Date.now();
    const error = await client.closed;
    expect(error).toBeInstanceOf(BusError);
    expect(error?.code).toBe("heartbeat_timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});
