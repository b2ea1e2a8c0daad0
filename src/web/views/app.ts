// The page once connected: a header with the node and the link's state, tabs, and the chosen view.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import type { FleetStore } from "../fleet-store.js";
import { BalancersView } from "./balancers-view.js";
import { ContainersView } from "./containers-view.js";
import { EventsView } from "./events-view.js";
import { ImagesView } from "./images-view.js";
import { ResourceView } from "./resource-view.js";
import { TreeView } from "./tree-view.js";
import { useTopic } from "./use-topic.js";

const TABS = [
  ["tree", "Tree"],
  ["containers", "Containers"],
  ["balancers", "Balancers"],
  ["events", "Drift & applies"],
  ["images", "Images"],
  ["resource", "Resources"],
] as const;

function currentRoute(): { view: string; detail: string | undefined } {
  const [view = "tree", ...rest] = location.hash.replace(/^#/, "").split("/");
  return {
    view: TABS.some(([id]) => id === view) ? view : "tree",
    detail: rest.length > 0 ? rest.join("/") : undefined,
  };
}

export type Link = { node: string; connected: () => boolean; signOut: () => void };

export function App({ store, link }: { store: FleetStore; link: Link }) {
  const [route, setRoute] = useState(currentRoute);
  const [connected, setConnected] = useState(true);
  useTopic(store, "problems");
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    addEventListener("hashchange", onHash);
    const timer = setInterval(() => setConnected(link.connected()), 1000);
    return () => {
      removeEventListener("hashchange", onHash);
      clearInterval(timer);
    };
  }, [link]);
  return html`<header>
      <h1>TreeScale</h1>
      <span class="where">connected to <b data-testid="connected-node">${link.node}</b></span>
      <span class=${connected ? "link ok" : "link lost"} data-testid="link-state">${connected ? "live" : "connection lost, reconnecting…"}</span>
      <button type="button" onClick=${link.signOut}>forget token</button>
    </header>
    <nav class="tabs">
      ${TABS.map(([id, label]) => html`<a key=${id} href=${`#${id}`} class=${route.view === id ? "selected" : ""} data-tab=${id}>${label}</a>`)}
    </nav>
    ${store.problems.length > 0 ? html`<ul class="problems">${store.problems.map((p) => html`<li key=${p}>${p}</li>`)}</ul>` : null}
    <main>
      ${route.view === "tree" ? html`<${TreeView} store=${store} />` : null}
      ${route.view === "containers" ? html`<${ContainersView} store=${store} />` : null}
      ${route.view === "balancers" ? html`<${BalancersView} store=${store} />` : null}
      ${route.view === "events" ? html`<${EventsView} store=${store} />` : null}
      ${route.view === "images" ? html`<${ImagesView} store=${store} />` : null}
      ${route.view === "resource" ? html`<${ResourceView} store=${store} selected=${route.detail} />` : null}
    </main>`;
}
