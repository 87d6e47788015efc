import { DAY_ZONE_META, HOUR_MS, MINUTE_MS, type HistoryStore } from "./store.js";

/**
 * Retention. Every bucket is written at two resolutions when counted (minute and hour), so
 * downsampling is only deleting: minute rows go after MINUTE_RETENTION_DAYS (and usage older
 * than that is counted into hours and days only: a backfill writes no minute row to prune), hour rows,
 * response keys, process samples and incidents after HOUR_RETENTION_DAYS. Reports over older
 * ranges read the hour rows; day rows go with the hour rows, whole days at a time (the hour cut
 * is moved back to the start of its local day, so days and hours always agree). Defaults chosen so a month of minutes (the live view's and
 * the burn-rate alerts' windows are at most 6 hours; SLO windows default to 28 days, read
 * from hours) and more than a year of hours (year-over-year reports) are kept.
 */
export const MINUTE_RETENTION_DAYS = 14;
export const HOUR_RETENTION_DAYS = 400;
/** Pruning runs at most this often in a long-lived process. */
export const PRUNE_EVERY_MS = HOUR_MS;

const DAY_MS = 24 * HOUR_MS;

export interface Retention {
  minuteDays: number;
  hourDays: number;
}

export const DEFAULT_RETENTION: Retention = { minuteDays: MINUTE_RETENTION_DAYS, hourDays: HOUR_RETENTION_DAYS };

/** The first minute kept at `now`: minute rows before it are past retention (pruned, and never written). */
export function minuteCut(now: number, r: Retention = DEFAULT_RETENTION): number {
  return Math.floor((now - r.minuteDays * DAY_MS) / MINUTE_MS);
}

/** Delete what is past retention at `now`; returns the rows deleted. */
export function prune(store: HistoryStore, now: number, r: Retention = DEFAULT_RETENTION): number {
  const minuteFloor = minuteCut(now, r);
  let hourCut = Math.floor((now - r.hourDays * DAY_MS) / HOUR_MS);
  return store.write(() => {
    let n = 0;
    if (store.daysCurrent()) {
      const dayOf = store.days();
      const cutDay = dayOf(hourCut);
      while (dayOf(hourCut - 1) === cutDay) hourCut--;
      n += store.db.prepare("DELETE FROM usage_day WHERE day < ?").run(cutDay).changes;
    } else if (store.getMeta(DAY_ZONE_META)) {
      // days of another zone: the cut cannot be placed in them; they are rebuilt before use
      if (store.db.prepare<[number], { n: number }>("SELECT EXISTS (SELECT 1 FROM usage_hour WHERE t < ?) AS n").get(hourCut)!.n) store.putMeta(DAY_ZONE_META, "");
    }
    n += store.db.prepare("DELETE FROM usage_minute WHERE t < ?").run(minuteFloor).changes;
    n += store.db.prepare("DELETE FROM proc_minute WHERE t < ?").run(minuteFloor).changes;
    n += store.db.prepare("DELETE FROM usage_hour WHERE t < ?").run(hourCut).changes;
    n += store.db.prepare("DELETE FROM proc_hour WHERE t < ?").run(hourCut).changes;
    n += store.db.prepare("DELETE FROM responses WHERE hour < ?").run(hourCut).changes;
    n += store.db.prepare("DELETE FROM incident_events WHERE id IN (SELECT id FROM incidents WHERE opened_at < ?)").run(hourCut * HOUR_MS).changes;
    n += store.db.prepare("DELETE FROM incidents WHERE opened_at < ?").run(hourCut * HOUR_MS).changes;
    store.putMeta("pruned_at", String(now));
    return n;
  });
}
