// The order widget frames start in (docs/widgets.md, "Paint fast"). Every frame of a
// page is a document to load, parse and run in the same frames process, so the ones a
// reader sees first should go first:
//
// * frames mounted together (a dashboard opening) start in reading order, by where
//   they are on the screen (top to bottom, then left to right), whatever the order
//   of their elements;
// * those in view start at once; the others when they come near the view, or once
//   every frame in view is ready (its SDK connected), or after OFF_SCREEN_WAIT_MS,
//   whichever comes first. So all of them do start, just not in the way of the
//   first screen.
//
//   const queued = queueFrame(element, () => createTheFrame());
//   host.on("ready", () => queued.ready());
//   queued.cancel();   // unmounted before it started

export interface QueuedFrame {
  /** Its frame is ready (the SDK connected): off-screen frames wait for those in view. */
  ready(): void;
  /** Forget it (unmounted); its start is not called any more. */
  cancel(): void;
}

export const OFF_SCREEN_WAIT_MS = 5000;
/** How near the view (a share of its height) an off-screen frame starts. */
const NEAR = "50%";

interface Entry {
  element: HTMLElement;
  start: () => void;
  state: "queued" | "deferred" | "started" | "ready" | "gone";
}

let queued: Entry[] = [];
let flushing = false;
const deferred = new Set<Entry>();
const inView = new Set<Entry>(); // started in view, not ready yet
let observer: IntersectionObserver | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;

export function queueFrame(element: HTMLElement, start: () => void): QueuedFrame {
  const entry: Entry = { element, start, state: "queued" };
  queued.push(entry);
  if (!flushing) {
    flushing = true;
    // After the mounting that queued it: every sibling is queued and laid out by then.
    queueMicrotask(flush);
  }
  return {
    ready: () => {
      if (entry.state !== "started") return;
      entry.state = "ready";
      inView.delete(entry);
      if (inView.size === 0) startDeferred();
    },
    cancel: () => {
      if (entry.state === "deferred") observer?.unobserve(entry.element);
      entry.state = "gone";
      deferred.delete(entry);
      inView.delete(entry);
      if (inView.size === 0) startDeferred();
    },
  };
}

/** Top-to-bottom, then left-to-right on the screen. */
function readingOrder(a: { top: number; left: number }, b: { top: number; left: number }): number {
  return a.top - b.top || a.left - b.left;
}

function flush(): void {
  flushing = false;
  const batch = queued.filter((entry) => entry.state === "queued");
  queued = [];
  const height = window.innerHeight || document.documentElement.clientHeight;
  const width = window.innerWidth || document.documentElement.clientWidth;
  const placed = batch.map((entry) => ({ entry, rect: entry.element.getBoundingClientRect() }));
  placed.sort((a, b) => readingOrder(a.rect, b.rect));
  for (const { entry, rect } of placed) {
    const unplaced = rect.width === 0 && rect.height === 0; // hidden: nothing to wait for
    const visible = rect.bottom >= 0 && rect.top <= height && rect.right >= 0 && rect.left <= width;
    if (unplaced || visible || typeof IntersectionObserver === "undefined") {
      entry.state = "started";
      inView.add(entry);
      entry.start();
    } else {
      entry.state = "deferred";
      deferred.add(entry);
      observe(entry);
    }
  }
  if (deferred.size > 0) {
    if (inView.size === 0) startDeferred();
    else if (timer === null) timer = setTimeout(startDeferred, OFF_SCREEN_WAIT_MS);
  }
}

function observe(entry: Entry): void {
  observer ??= new IntersectionObserver(
    (changes) => {
      for (const change of changes) {
        if (!change.isIntersecting) continue;
        const entry = [...deferred].find((e) => e.element === change.target);
        if (entry) startOne(entry);
      }
    },
    { rootMargin: `${NEAR} 0px` },
  );
  observer.observe(entry.element);
}

function startOne(entry: Entry): void {
  observer?.unobserve(entry.element);
  deferred.delete(entry);
  if (entry.state !== "deferred") return;
  entry.state = "started";
  entry.start();
}

/** The frames in view are ready (or took too long): start the others, in reading order. */
function startDeferred(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  const rest = [...deferred].map((entry) => ({ entry, rect: entry.element.getBoundingClientRect() }));
  rest.sort((a, b) => readingOrder(a.rect, b.rect));
  for (const { entry } of rest) startOne(entry);
}
