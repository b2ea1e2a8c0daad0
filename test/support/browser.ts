// Debian's chromium, headless, driven by playwright-core: a page with its console errors and the
// requests it made collected, and screenshots written under test-artifacts/ (kept out of git).
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS = join(new URL("../..", import.meta.url).pathname, "test-artifacts");

export function requireChromium(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
}

export async function launchChromium(): Promise<Browser> {
  requireChromium();
  // Root (CI, the test machine) cannot use chromium's sandbox; the page is our own.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

export type WatchedPage = {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions of the page, in order. */
  errors: string[];
  /** Every URL the page requested (documents, scripts, WebSockets). */
  requests: string[];
  screenshot(name: string): Promise<string>;
};

export async function openPage(
  browser: Browser,
  options: { ignoreHTTPSErrors?: boolean } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 900 },
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  page.on("request", (request) => requests.push(request.url()));
  page.on("websocket", (socket) => requests.push(socket.url()));
  return {
    page,
    context,
    errors,
    requests,
    screenshot: async (name) => {
      await mkdir(ARTIFACTS, { recursive: true });
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
  };
}
