import type { HistoryInfo, SeriesResponse } from "./protocol.js";
import type { HistorySource } from "./live.js";

/** Day and week need the history store; until this version has one, the page says so and shows the live hour. */
export const NO_HISTORY = "day and week need the history store, which this version does not have yet";

/** History without the store: the page says why, in the store's own words, and shows the live hour. */
export class NoHistory implements HistorySource {
  constructor(private readonly message: string) {}
  info(): HistoryInfo {
    return { available: false, message: this.message };
  }
  async update(): Promise<string[]> {
    return [];
  }
  series(): SeriesResponse {
    throw new Error(this.message);
  }
  close(): void {}
}

export async function openHistory(_home: string, _env: NodeJS.ProcessEnv): Promise<HistorySource> {
  return new NoHistory(NO_HISTORY);
}
