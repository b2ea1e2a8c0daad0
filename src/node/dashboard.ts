// The dashboard page's files (built by `npm run build` into the package's dist/web), read once when the
// node starts and served at `/` with headers that keep the page to its own origin: it loads nothing from
// elsewhere and may open a WebSocket only to this node.
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type DashboardFiles = ReadonlyMap<string, { type: string; body: Buffer }>;

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "app.js.map": "application/json",
  "app.css": "text/css; charset=utf-8",
  "app.css.map": "application/json",
};

/** dist/web of the package this module belongs to (found upwards from it: bundled or not, in an image or a checkout). */
export async function dashboardDirectory(from = fileURLToPath(import.meta.url)): Promise<string | undefined> {
  for (let directory = dirname(from); directory !== dirname(directory); directory = dirname(directory)) {
    const manifest = await readFile(join(directory, "package.json"), "utf8").catch(() => undefined);
    if (manifest !== undefined && (JSON.parse(manifest) as { name?: string }).name === "treescale")
      return join(directory, "dist", "web");
  }
  return undefined;
}

/** The page's files, or undefined when the page was not built (the node then says so at `/`). */
export async function loadDashboard(directory: string | undefined): Promise<DashboardFiles | undefined> {
  if (directory === undefined) return undefined;
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(FILES)) {
    const body = await readFile(join(directory, name)).catch(() => undefined);
    if (body) files.set(name, { type, body });
  }
  return files.has("index.html") && files.has("app.js") ? files : undefined;
}

/** A Host header as a browser sends it (name or address, optional port): safe to name in a policy. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Answers a GET for the page or one of its files; false when `path` is not one of them. Without a
 * built page, `/` answers 404 saying how to build it.
 */
export function serveDashboard(
  files: DashboardFiles | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  secure: boolean,
): boolean {
  const name = path === "/" ? "index.html" : path.slice(1);
  if (!(name in FILES)) return false;
  const file = files?.get(name);
  if (!file) {
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("the dashboard is not part of this build: run `npm run build` (it writes dist/web)\n");
    return true;
  }
  const host = request.headers.host;
  const socket = host !== undefined && HOST.test(host) ? ` ${secure ? "wss" : "ws"}://${host}` : "";
  response.writeHead(200, {
    "content-type": file.type,
    "content-length": file.body.length,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy":
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; ` +
      `connect-src 'self'${socket}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  });
  response.end(request.method === "HEAD" ? undefined : file.body);
  return true;
}
