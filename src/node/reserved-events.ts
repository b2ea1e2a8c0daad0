// The events a node keeps for itself, and the permission a client's token needs to send each: the
// agents' requests (a slice to run, the state of the fleet), re-parenting, and what agents and nodes
// announce about themselves (a client posing as one could steer a balancer or a plan).
import type { EventRule } from "../bus/server/index.js";
import { AGENT_EVENTS, REPARENT_EVENT } from "../model/wire.js";

export const RESERVED_EVENTS: readonly EventRule[] = [
  { event: AGENT_EVENTS.apply, permission: "fleet:apply" },
  { event: AGENT_EVENTS.state, permission: "fleet:read" },
  { event: AGENT_EVENTS.summary, permission: "fleet:read" },
  { event: AGENT_EVENTS.logs, permission: "fleet:read" },
  { event: AGENT_EVENTS.logsKeep, permission: "fleet:read" },
  { event: REPARENT_EVENT, permission: "node:reparent" },
  // Moving images down the tree (image.offer, image.chunk, image.end, image.list, image.fetch).
  { event: "image.*", permission: "images:push" },
  // Announcements only agents and nodes make: agent.status, agent.objects, node.up, node.down, …
  { event: "agent.*", permission: "*" },
  { event: "node.*", permission: "*" },
  { event: AGENT_EVENTS.progress, permission: "*" },
  { event: AGENT_EVENTS.started, permission: "*" },
  { event: AGENT_EVENTS.planned, permission: "*" },
  { event: AGENT_EVENTS.drift, permission: "*" },
];
