/** Leading + trailing throttle: the last call in a burst always goes out, `cancel` drops it. */
export function throttle<A extends unknown[]>(fn: (...args: A) => void, ms: number) {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let pending: A | null = null;
  const run = () => {
    timer = null;
    last = performance.now();
    const args = pending;
    pending = null;
    if (args) fn(...args);
  };
  return {
    call(...args: A) {
      pending = args;
      const wait = ms - (performance.now() - last);
      if (wait <= 0 && !timer) run();
      else if (!timer) timer = setTimeout(run, Math.max(0, wait));
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
      pending = null;
    },
  };
}
