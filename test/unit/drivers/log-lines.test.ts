import { describe, expect, it } from "vitest";
import { LogLineSplitter, MAX_LOG_LINE_BYTES } from "../../../src/drivers/log-lines.js";

const frame = (stream: 1 | 2, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

describe("engine log output cut into lines", () => {
  it("reads Docker's frames, whatever the chunking, keeping stdout and stderr apart", () => {
    const bytes = Buffer.concat([frame(1, "one\ntw"), frame(2, "err\n"), frame(1, "o\nthree")]);
    for (let size = 1; size <= bytes.length; size++) {
      const splitter = new LogLineSplitter();
      const lines = [];
      for (let at = 0; at < bytes.length; at += size)
        lines.push(...splitter.push(bytes.subarray(at, at + size)));
      lines.push(...splitter.end());
      expect(lines).toEqual([
        { stream: "stdout", text: "one" },
        { stream: "stderr", text: "err" },
        { stream: "stdout", text: "two" },
        { stream: "stdout", text: "three" },
      ]);
    }
  });

  it("reads a terminal's raw bytes as stdout, and cuts a runaway line", () => {
    const splitter = new LogLineSplitter();
    const long = "x".repeat(MAX_LOG_LINE_BYTES + 10);
    const lines = [...splitter.push(Buffer.from(`hello there\r\n${long}\n`)), ...splitter.end()];
    expect(lines.map((l) => l.text.length)).toEqual([11, MAX_LOG_LINE_BYTES, 10]);
    expect(lines[0]).toEqual({ stream: "stdout", text: "hello there" });
  });
});
