// Whether an element is on screen (or close to it), from one IntersectionObserver shared by every row:
// rows off screen are not redrawn when their figures change, and catch up when they scroll into view.
import type { RefObject } from "preact";
import { useEffect, useState } from "preact/hooks";

const watchers = new Map<Element, (visible: boolean) => void>();
let observer: IntersectionObserver | undefined;

function watchVisible(element: Element, watch: (visible: boolean) => void): () => void {
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) watchers.get(entry.target)?.(entry.isIntersecting);
    },
    // Rows just below the fold are drawn already, so a scroll shows no stale figure.
    { rootMargin: "300px 0px" },
  );
  watchers.set(element, watch);
  observer.observe(element);
  return () => {
    watchers.delete(element);
    observer?.unobserve(element);
  };
}

export function useVisible(ref: RefObject<Element | null>): boolean {
  const [visible, setVisible] = useState(false);
  useEffect(() => (ref.current ? watchVisible(ref.current, setVisible) : undefined), [ref]);
  return visible;
}
