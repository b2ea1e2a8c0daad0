// The dashboard page: asks for a token (kept in this tab's sessionStorage only), connects to the node
// it was loaded from as a bus client over WebSocket, and shows the tree below it live.
import { html } from "htm/preact";
import { render } from "preact";
import { BusClient, BusError } from "../bus/client/browser.js";
import { FleetStore, LIVE_EVENTS } from "./fleet-store.js";
import { App } from "./views/app.js";

const TOKEN_KEY = "treescale.token";
const root = document.getElementById("app")!;

/** The node's WebSocket: the origin the page came from, which the node allows by default. */
const busUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;

function askToken(notice?: string): void {
  const submit = (event: Event) => {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).elements.namedItem("token") as HTMLInputElement;
    void start(input.value.trim());
  };
  render(
    html`<form class="token" onSubmit=${submit}>
      <h1>TreeScale</h1>
      <label>Token <input name="token" type="password" autocomplete="off" required autofocus /></label>
      <button type="submit">Connect</button>
      <p class="hint">Kept for this tab only (sessionStorage). It needs subscribe:* and fleet:read.</p>
      ${notice ? html`<p class="refused" role="alert" data-testid="notice">${notice}</p>` : null}
    </form>`,
    root,
  );
}

async function start(token: string): Promise<void> {
  render(html`<p class="connecting">Connecting to ${location.host}…</p>`, root);
  let client: BusClient;
  try {
    client = await BusClient.connect({
      url: busUrl(),
      token,
      name: "dashboard",
      events: [...LIVE_EVENTS],
      connectTimeoutMs: 5000,
      handshakeTimeoutMs: 5000,
    });
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken(refusal(error));
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const store = new FleetStore(client);
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    store.stop();
    void client.close();
    askToken();
  };
  void client.closed.then((reason) => {
    if (!reason) return;
    store.stop();
    askToken(`The connection to ${client.node} ended: ${reason.message}`);
  });
  render(
    html`<${App} store=${store} link=${{ node: client.node, connected: () => client.isReady, signOut }} />`,
    root,
  );
  await store.start();
}

function refusal(error: unknown): string {
  if (error instanceof BusError && error.code === "auth_failed")
    return `The node refused this token (${error.message}).`;
  if (error instanceof BusError && error.code === "forbidden")
    return `This token may not watch the tree: ${error.message}`;
  return `Cannot connect to ${location.host}: ${error instanceof Error ? error.message : String(error)}`;
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void start(saved);
else askToken();
