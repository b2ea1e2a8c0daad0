// Writes a remote file atomically over SFTP: a temp file beside it, written with several requests in
// flight (ssh2's write stream waits a round trip per 32 KiB, which over a WAN turns a node image into
// minutes), its mode set explicitly (the server's umask applies at open), then renamed over the target.
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import type { SFTPWrapper } from "ssh2";

const PIECE_BYTES = 64 * 1024;
const MAX_IN_FLIGHT = 16;

/** The temp name a write uses until its rename: hidden, beside the target, so the rename stays atomic. */
export function tempPathFor(path: string): string {
  return posix.join(
    posix.dirname(path),
    `.${posix.basename(path)}.treescale-${randomBytes(6).toString("hex")}`,
  );
}

export async function writeAtomically(
  sftp: SFTPWrapper,
  path: string,
  chunks: AsyncIterable<Uint8Array | string>,
  mode: number,
  progressed: () => void,
): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await call<Buffer>((done) => sftp.open(temp, "wx", { mode }, done));
  let open = true;
  try {
    await writeChunks(sftp, handle, chunks, progressed);
    await call((done) => sftp.fchmod(handle, mode, done));
    open = false;
    await call((done) => sftp.close(handle, done));
    await call((done) => sftp.ext_openssh_rename(temp, path, done));
  } catch (error) {
    // Best effort: on a broken connection these fail too, and the first error is the one to report.
    if (open) await call((done) => sftp.close(handle, done)).catch(() => undefined);
    await call((done) => sftp.unlink(temp, done)).catch(() => undefined);
    throw error;
  }
}

async function writeChunks(
  sftp: SFTPWrapper,
  handle: Buffer,
  chunks: AsyncIterable<Uint8Array | string>,
  progressed: () => void,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let offset = 0;
  for await (const chunk of chunks) {
    const bytes =
      typeof chunk === "string"
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let start = 0; start < bytes.length; start += PIECE_BYTES) {
      const piece = bytes.subarray(start, start + PIECE_BYTES);
      const write: Promise<void> = call((done) =>
        sftp.write(handle, piece, 0, piece.length, offset, done),
      ).then(() => {
        inFlight.delete(write);
        progressed();
      });
      // Observed here so that a failure while another write is awaited is not an unhandled rejection.
      write.catch(() => undefined);
      inFlight.add(write);
      offset += piece.length;
      if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    }
  }
  await Promise.all(inFlight);
}

function call<T = void>(
  start: (done: (error: Error | undefined | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value as T)));
  });
}

/** One buffer as the pieces an upload of a stream would see. */
export async function* single(data: string | Uint8Array): AsyncIterable<Uint8Array | string> {
  yield data;
}
