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

  forget(key: string): void {
    this.windows.delete(key);
  }
}
