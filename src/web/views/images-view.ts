// Image pushes through the tree: per image, each receiving node's phase, bytes against the total,
// rate and time left, where a resumed transfer started, and why one failed.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import type { FleetStore } from "../fleet-store.js";
import { bytes, clock } from "../format.js";
import { eta, fraction, type NodeTransfer, silence } from "../image-pushes.js";
import { useTopic } from "./use-topic.js";

export function ImagesView({ store }: { store: FleetStore }) {
  useTopic(store, "images");
  const receiving = store.pushes.some((push) => push.nodes.some((node) => node.phase === "receiving"));
  // While chunks come, the view looks again each second: a node that stops reporting is said so.
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!receiving) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [receiving]);
  return html`<section class="view" id="view-images">
    ${
      store.pushes.length === 0
        ? html`<p class="empty">No image push since this page opened (treescale image push, or an apply with image_source = "tree").</p>`
        : store.pushes.map(
            (push) => html`<div class="push" key=${push.image} data-push=${push.reference}>
              <h3>${push.reference} <span class="detail">${push.image.replace(/^sha256:/, "").slice(0, 12)}</span></h3>
              <table class="grid transfers">
                <thead><tr><th>node</th><th>phase</th><th>received</th><th></th><th>rate</th><th>ETA</th><th>resumed from</th><th>last report</th></tr></thead>
                <tbody>${push.nodes.map((t) => html`<${TransferRow} key=${t.node} transfer=${t} now=${Math.max(now, t.heardAt)} />`)}</tbody>
              </table>
            </div>`,
          )
    }
  </section>`;
}

function TransferRow({ transfer, now }: { transfer: NodeTransfer; now: number }) {
  const share = fraction(transfer);
  const quiet = silence(transfer, now);
  return html`<tr data-transfer-node=${transfer.node} data-phase=${transfer.phase} class=${`phase-${transfer.phase}`}>
    <td>${transfer.node}</td>
    <td class="phase">${transfer.phase}${transfer.error ? `: ${transfer.error}` : ""}</td>
    <td class="received">${bytes(transfer.bytes)}${transfer.total > 0 ? ` / ${bytes(transfer.total)}` : ""}</td>
    <td>${share === undefined ? null : html`<progress max="1" value=${share}>${Math.round(share * 100)} %</progress>`}</td>
    <td class="rate">${transfer.phase === "receiving" ? `${bytes(transfer.bytesPerSecond)}/s` : "–"}</td>
    <td class="eta">${transfer.phase === "receiving" ? eta(transfer.etaSeconds) : "–"}</td>
    <td>${transfer.resumedFrom > 0 ? `chunk ${transfer.resumedFrom}` : "–"}</td>
    <td class=${quiet ? "silent" : ""}>${quiet ?? clock(new Date(transfer.heardAt).toISOString())}</td>
  </tr>`;
}
