// Re-renders a component when one topic of the store changes, and only then.
import { useEffect, useState } from "preact/hooks";
import type { FleetStore, Topic } from "../fleet-store.js";

export function useTopic(store: FleetStore, ...topics: Topic[]): void {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const stops = topics.map((topic) => store.on(topic, () => setVersion((v) => v + 1)));
    return () => {
      for (const stop of stops) stop();
    };
    // The topics are fixed per component.
  }, [store]);
}
