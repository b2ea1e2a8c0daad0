// Ctrl-C and SIGTERM for commands that run until stopped. Listening starts when this is called, so a
// command calls it before it prints the line a user (or a script) reacts to: a signal that comes
// between that line and a listener installed after it kills the process with the default action and
// no exit code (seen under load, where a process can be descheduled between two statements).

/** The first SIGINT or SIGTERM from now on. */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
