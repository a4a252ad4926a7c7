/** Counts events per key in one-second windows; `allow` says whether one more fits. */
export class RateLimiter {
  private windows = new Map<string, { second: number; count: number }>();
  constructor(private readonly perSecond: number) {}

  allow(key: string): boolean {
    const second = Math.floor(Date.now() / 1000);
    const w = this.windows.get(key);
    if (!w || w.second !== second) {
      this.windows.set(key, { second, count: 1 });
      return true;
    }
    return ++w.count <= this.perSecond;
  }

  /** Resolves once one more fits (at once, or when the next second starts): a queue held to the rate. */
  async take(key: string): Promise<void> {
    while (!this.allow(key)) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)));
  }

  forget(key: string): void {
    this.windows.delete(key);
  }
}
