import { describe, expect, it } from "vitest";
import {
  createOptions,
  DEFAULT_SOCKET_PATH,
  describeConnection,
  dockerodeOptions,
  type ListedContainer,
  ownedFilter,
  parseFieldHashes,
  parseHealth,
  parsePullEvent,
  resolveConnection,
  restartCountOf,
  toObservedContainer,
  UNKNOWN_REPLICA,
} from "../../../src/drivers/docker-mapping.js";
import type { CreateContainerRequest } from "../../../src/drivers/engine.js";
import { UsageError } from "../../../src/errors.js";
import { LEGACY_STACK } from "../../../src/model/labels.js";
import type { ContainerSpec } from "../../../src/model/resources.js";
import { containerSpec } from "../../support/specs.js";

function spec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return containerSpec("web", overrides);
}

function request(overrides: Partial<ContainerSpec> = {}): CreateContainerRequest {
  return {
    name: "shop_web_0_n1",
    node: "n1",
    stack: "shop",
    replica: 0,
    spec: spec(overrides),
    hash: "0123456789abcdef",
    fieldHashes: { image: "aaaaaaaa", env: "bbbbbbbb" },
    generation: 7,
  };
}

function listed(overrides: Partial<ListedContainer> = {}): ListedContainer {
  return {
    Id: "c0ffee",
    Names: ["/shop_web_2_n1"],
    Image: "local/busybox:1",
    Created: 1_700_000_000,
    State: "running",
    Status: "Up 3 seconds",
    Labels: {
      "treescale.managed": "true",
      "treescale.node": "n1",
      "treescale.stack": "shop",
      "treescale.resource": "web",
      "treescale.replica": "2",
      "treescale.hash": "0123456789abcdef",
      "treescale.fields": '{"image":"aaaaaaaa","env":"bbbbbbbb"}',
      "treescale.generation": "7",
    },
    ...overrides,
  };
}

describe("resolveConnection — where the driver talks to dockerd", () => {
  it("uses the default socket when nothing is configured", () => {
    expect(resolveConnection({}, {})).toEqual({ kind: "socket", socketPath: DEFAULT_SOCKET_PATH });
  });

  it("prefers explicit options over DOCKER_HOST", () => {
    const env = { DOCKER_HOST: "tcp://10.0.0.1:2375" };
    expect(resolveConnection({ socketPath: "/tmp/d.sock" }, env)).toEqual({
      kind: "socket",
      socketPath: "/tmp/d.sock",
    });
    expect(resolveConnection({ host: "127.0.0.1", port: 2380 }, env)).toEqual({
      kind: "tcp",
      host: "127.0.0.1",
      port: 2380,
      protocol: "http",
    });
  });

  it("reads unix:// and tcp:// from DOCKER_HOST as the docker CLI does", () => {
    expect(resolveConnection({}, { DOCKER_HOST: "unix:///run/user/1000/docker.sock" })).toEqual({
      kind: "socket",
      socketPath: "/run/user/1000/docker.sock",
    });
    expect(resolveConnection({}, { DOCKER_HOST: "unix://" })).toEqual({
      kind: "socket",
      socketPath: DEFAULT_SOCKET_PATH,
    });
    expect(resolveConnection({}, { DOCKER_HOST: "tcp://docker.local:2375" })).toEqual({
      kind: "tcp",
      host: "docker.local",
      port: 2375,
      protocol: "http",
    });
    expect(resolveConnection({}, { DOCKER_HOST: "localhost:4243" })).toMatchObject({
      host: "localhost",
      port: 4243,
    });
    expect(resolveConnection({}, { DOCKER_HOST: "tcp://[::1]:2375" })).toMatchObject({ host: "::1" });
  });

  it("switches to TLS and its default port with DOCKER_TLS_VERIFY=1", () => {
    expect(resolveConnection({}, { DOCKER_HOST: "tcp://h", DOCKER_TLS_VERIFY: "1" })).toEqual({
      kind: "tcp",
      host: "h",
      port: 2376,
      protocol: "https",
    });
  });

  it("rejects DOCKER_HOST schemes it cannot serve, naming the value and the accepted forms", () => {
    expect(() => resolveConnection({}, { DOCKER_HOST: "ssh://me@box" })).toThrowError(UsageError);
    expect(() => resolveConnection({}, { DOCKER_HOST: "ssh://me@box" })).toThrowError(
      /DOCKER_HOST=ssh:\/\/me@box .*unix:\/\/\/.*tcp:\/\/host:port/,
    );
  });

  it("describes the connection for messages and pins every dockerode option", () => {
    const socket = resolveConnection({ socketPath: "/x.sock" }, {});
    expect(describeConnection(socket)).toBe("unix socket /x.sock");
    expect(dockerodeOptions(socket)).toEqual({
      socketPath: "/x.sock",
      host: undefined,
      port: undefined,
      protocol: "http",
    });
    expect(Object.keys(dockerodeOptions(socket))).toContain("host");
    expect(describeConnection(resolveConnection({ host: "h", port: 1 }, {}))).toBe("tcp://h:1");
  });
});

describe("createOptions — ContainerSpec to the Engine API", () => {
  it("sets name, image, ownership labels and nothing optional for a minimal spec", () => {
    const options = createOptions(request());
    expect(options).toEqual({
      name: "shop_web_0_n1",
      Image: "local/busybox:1",
      Env: [],
      Labels: {
        "treescale.managed": "true",
        "treescale.stack": "shop",
        "treescale.resource": "web",
        "treescale.node": "n1",
        "treescale.replica": "0",
        "treescale.hash": "0123456789abcdef",
        "treescale.fields": '{"image":"aaaaaaaa","env":"bbbbbbbb"}',
        "treescale.generation": "7",
      },
      ExposedPorts: {},
      HostConfig: { Binds: [], PortBindings: {}, RestartPolicy: { Name: "no", MaximumRetryCount: 0 } },
    });
  });

  it("maps command, entrypoint, env, volumes, restart and resources", () => {
    const options = createOptions(
      request({
        command: ["httpd", "-f", "-p", "80"],
        entrypoint: ["/bin/sh", "-c"],
        env: { A: "1", GREETING: "a=b c" },
        volumes: ["/srv/data:/data:ro"],
        restart: "on-failure",
        memoryBytes: 64 * 1024 * 1024,
        cpus: 0.5,
      }),
    );
    expect(options.Cmd).toEqual(["httpd", "-f", "-p", "80"]);
    expect(options.Entrypoint).toEqual(["/bin/sh", "-c"]);
    expect(options.Env).toEqual(["A=1", "GREETING=a=b c"]);
    expect(options.HostConfig).toMatchObject({
      Binds: ["/srv/data:/data:ro"],
      RestartPolicy: { Name: "on-failure" },
      Memory: 67_108_864,
      NanoCpus: 500_000_000,
    });
  });

  it("rounds fractional CPUs to whole nanocpus", () => {
    expect(createOptions(request({ cpus: 1 / 3 })).HostConfig?.NanoCpus).toBe(333_333_333);
  });

  it("exposes ports and binds them by host ip, host port and protocol, several per container port", () => {
    const options = createOptions(
      request({
        ports: [
          { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" },
          { hostPort: 8081, containerPort: 80, protocol: "tcp" },
          { hostPort: 5353, containerPort: 53, protocol: "udp" },
        ],
      }),
    );
    expect(options.ExposedPorts).toEqual({ "80/tcp": {}, "53/udp": {} });
    expect(options.HostConfig?.PortBindings).toEqual({
      "80/tcp": [
        { HostIp: "127.0.0.1", HostPort: "8080" },
        { HostIp: "", HostPort: "8081" },
      ],
      "53/udp": [{ HostIp: "", HostPort: "5353" }],
    });
  });

  it("converts health check durations from milliseconds to nanoseconds", () => {
    const options = createOptions(
      request({
        healthcheck: {
          test: ["CMD-SHELL", "wget -q -O- localhost"],
          intervalMs: 1500,
          timeoutMs: 200,
          startPeriodMs: 0,
          retries: 3,
        },
      }),
    );
    expect(options.Healthcheck).toEqual({
      Test: ["CMD-SHELL", "wget -q -O- localhost"],
      Interval: 1_500_000_000,
      Timeout: 200_000_000,
      StartPeriod: 0,
      Retries: 3,
    });
  });

  it("reads a health test without CMD/CMD-SHELL/NONE as exec form and leaves unset durations to Docker", () => {
    const options = createOptions(request({ healthcheck: { test: ["true"] } }));
    expect(options.Healthcheck).toEqual({ Test: ["CMD", "true"] });
    expect(createOptions(request({ healthcheck: { test: ["NONE"] } })).Healthcheck).toEqual({
      Test: ["NONE"],
    });
  });

  it("keeps user labels but never lets them override ownership labels", () => {
    const labels = createOptions(
      request({
        labels: {
          team: "edge",
          "treescale.node": "elsewhere",
          "treescale.managed": "false",
          "treescale.stack": "other",
        },
      }),
    ).Labels;
    expect(labels).toMatchObject({
      team: "edge",
      "treescale.node": "n1",
      "treescale.managed": "true",
      "treescale.stack": "shop",
    });
  });

  it("does not share arrays with the spec", () => {
    const req = request({ command: ["sleep", "1"], volumes: ["/a:/b"] });
    const options = createOptions(req);
    options.Cmd?.push("x");
    options.HostConfig?.Binds?.push("/c:/d");
    expect(req.spec.command).toEqual(["sleep", "1"]);
    expect(req.spec.volumes).toEqual(["/a:/b"]);
  });
});

describe("ownedFilter", () => {
  it("asks the engine for managed containers of exactly this node", () => {
    expect(ownedFilter("n1")).toEqual({ label: ["treescale.managed=true", "treescale.node=n1"] });
  });
});

describe("restartCountOf — the restart count from an inspect answer", () => {
  it("reads Docker's RestartCount", () => {
    expect(restartCountOf({ Id: "c0ffee", RestartCount: 3, State: { Status: "running" } })).toBe(3);
    expect(restartCountOf({ RestartCount: 0 })).toBe(0);
  });

  it.each([
    ["no RestartCount", { Id: "c0ffee" }],
    ["a negative count", { RestartCount: -1 }],
    ["a fraction", { RestartCount: 1.5 }],
    ["a string", { RestartCount: "2" }],
    ["not an object", "oops"],
    ["null", null],
  ])("gives null for %s", (_case, answer) => {
    expect(restartCountOf(answer)).toBeNull();
  });
});

describe("toObservedContainer — a list entry back into the model", () => {
  it("decodes every ownership label", () => {
    expect(toObservedContainer(listed())).toEqual({
      id: "c0ffee",
      name: "shop_web_2_n1",
      node: "n1",
      stack: "shop",
      resource: "web",
      replica: 2,
      hash: "0123456789abcdef",
      fieldHashes: { image: "aaaaaaaa", env: "bbbbbbbb" },
      image: "local/busybox:1",
      state: "running",
      createdAt: "2023-11-14T22:13:20.000Z",
      restarts: null,
    });
  });

  it("round-trips the labels createOptions writes", () => {
    const req = request();
    const observed = toObservedContainer(listed({ Labels: createOptions(req).Labels ?? {} }));
    expect(observed).toMatchObject({
      node: req.node,
      stack: req.stack,
      resource: req.spec.name,
      replica: req.replica,
      hash: req.hash,
      fieldHashes: req.fieldHashes,
    });
  });

  it("reads a container created before stacks (no stack label) as the legacy stack", () => {
    const { "treescale.stack": _stack, ...labels } = listed().Labels ?? {};
    expect(toObservedContainer(listed({ Labels: labels })).stack).toBe(LEGACY_STACK);
    expect(LEGACY_STACK).toBe("default");
  });

  it.each([
    ["Up 3 seconds (healthy)", "healthy"],
    ["Up 1 second (health: starting)", "starting"],
    ["Up 2 minutes (unhealthy)", "unhealthy"],
  ] as const)("reads health from status %j", (status, health) => {
    expect(toObservedContainer(listed({ Status: status })).health).toBe(health);
  });

  it("omits health when the container has no health check", () => {
    const observed = toObservedContainer(listed({ Status: "Exited (0) 5 seconds ago" }));
    expect(observed).not.toHaveProperty("health");
    expect(parseHealth("Up 3 seconds")).toBeUndefined();
  });

  it.each(["created", "running", "paused", "restarting", "removing", "exited", "dead"])(
    "keeps Docker's state %s",
    (state) => {
      expect(toObservedContainer(listed({ State: state })).state).toBe(state);
    },
  );

  it("treats a state it does not know as dead rather than running", () => {
    expect(toObservedContainer(listed({ State: "zombie" })).state).toBe("dead");
  });

  it.each(["", "two", "-1", "1.5", "1e3", "99999999999999999999"])(
    "maps the garbage replica label %j to UNKNOWN_REPLICA, never NaN",
    (replica) => {
      const entry = listed();
      const observed = toObservedContainer({
        ...entry,
        Labels: { ...entry.Labels, "treescale.replica": replica },
      });
      expect(observed.replica).toBe(UNKNOWN_REPLICA);
    },
  );

  it("tolerates missing labels, names and timestamps", () => {
    const observed = toObservedContainer(listed({ Labels: null, Names: [], Created: Number.NaN }));
    expect(observed).toMatchObject({
      name: "",
      node: "",
      stack: LEGACY_STACK,
      resource: "",
      replica: UNKNOWN_REPLICA,
      hash: "",
      fieldHashes: {},
      createdAt: "",
    });
  });
});

describe("parseFieldHashes", () => {
  it.each([undefined, "", "{", "null", "[]", '"x"', "42"])("reads %j as unknown {}", (value) => {
    expect(parseFieldHashes(value)).toEqual({});
  });

  it("keeps only string hashes", () => {
    expect(parseFieldHashes('{"image":"aa","env":3,"ports":null,"cpus":"bb"}')).toEqual({
      image: "aa",
      cpus: "bb",
    });
  });
});

describe("parsePullEvent", () => {
  it("reports layer progress with byte counts", () => {
    const event = {
      status: "Downloading",
      id: "a1b2",
      progressDetail: { current: 100, total: 400 },
      progress: "[==>   ]",
    };
    expect(parsePullEvent("x:1", event)).toEqual({
      progress: { image: "x:1", status: "a1b2: Downloading", current: 100, total: 400 },
    });
  });

  it("reports a status line without counts", () => {
    expect(parsePullEvent("x:1", { status: "Pulling from library/x", id: "1" })).toEqual({
      progress: { image: "x:1", status: "1: Pulling from library/x" },
    });
  });

  it("turns an error line into the failure, from error or errorDetail", () => {
    expect(parsePullEvent("x:1", { error: "manifest unknown", errorDetail: { message: "m" } })).toEqual({
      error: "manifest unknown",
    });
    expect(parsePullEvent("x:1", { errorDetail: { message: "denied" } })).toEqual({ error: "denied" });
  });
});
